#!/usr/bin/env bash
# Rebuild the corpus, train the evaluator and the three CPU comparison models, and evaluate them — the commands
# behind the README's results table. Runs on a 2-core CPU in about two hours; set JOBS to your taste.
# Usage: bash scripts/reproduce_cpu_results.sh [SHARED_DIR=../shared] [WORK=runs]
set -euo pipefail
SHARED=${1:-../shared}
WORK=${2:-runs}
mkdir -p "$WORK"
[ -d "$WORK/corpus" ] || motiongen data build --source "$SHARED/data/bvh" --out "$WORK/corpus"
[ -f "$WORK/finemogen/config.json" ] || motiongen train --config configs/finemogen_cpu_small.toml --data "$WORK/corpus" --out "$WORK/finemogen"
[ -f "$WORK/histf/config.json" ] || motiongen train --config configs/histf_cpu_small.toml --data "$WORK/corpus" --out "$WORK/histf"
[ -f "$WORK/baseline/config.json" ] || motiongen train --config configs/baseline_cpu_small.toml --data "$WORK/corpus" --out "$WORK/baseline"
[ -f "$WORK/evaluator/config.json" ] || motiongen train-evaluator --data "$WORK/corpus" --out "$WORK/evaluator" --epochs 12
motiongen evaluate --models "$WORK/finemogen" "$WORK/histf" "$WORK/baseline" --data "$WORK/corpus" \
  --evaluator "$WORK/evaluator" --replications 3 --mm-texts 20 --mm-samples 11 --json "$WORK/results.json"
python benchmarks/aits.py --models "$WORK/finemogen" "$WORK/histf" "$WORK/baseline" --steps 10 50 --sentences 5
