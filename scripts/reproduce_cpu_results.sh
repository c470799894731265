#!/usr/bin/env bash
# Rebuild the corpus, train the evaluator and the three CPU comparison models (25 minutes of wall-clock each),
# evaluate them and time them: the commands behind the README's results table. About two hours on a 2-core CPU.
# Each model trains on one thread (THREADS=1; torch's default follows the load and would differ between runs), so the
# runs are comparable and the machine's other core stays free. --steps makes each cosine schedule end near the
# 25-minute budget at one thread (FineMoGen ~0.26 steps/s at batch 32, HiSTF ~0.28 at batch 16, the baseline ~0.48 at batch 32).
# Evaluation: every model with DPM-Solver++ at 10 steps (HiSTF's own sampler; DDIM 50 for FineMoGen and the
# baseline would take about 50 minutes per model on one thread), 2 replications.
# Usage: bash scripts/reproduce_cpu_results.sh [SHARED_DIR=../shared] [WORK=runs]
set -euo pipefail
SHARED=${1:-../shared}
WORK=${2:-runs}
THREADS=${THREADS:-1}
mkdir -p "$WORK"
[ -d "$WORK/corpus" ] || motiongen data build --source "$SHARED/data/bvh" --out "$WORK/corpus"
[ -f "$WORK/evaluator/config.json" ] || motiongen train-evaluator --data "$WORK/corpus" --out "$WORK/evaluator" --epochs 12 --size small
[ -f "$WORK/finemogen_cmp/config.json" ] || motiongen train --config configs/finemogen_cpu_small.toml --data "$WORK/corpus" --out "$WORK/finemogen_cmp" --max-minutes 25 --steps 380 --threads "$THREADS"
[ -f "$WORK/histf_cmp/config.json" ] || motiongen train --config configs/histf_cpu_small.toml --data "$WORK/corpus" --out "$WORK/histf_cmp" --max-minutes 25 --steps 420 --threads "$THREADS"
[ -f "$WORK/baseline_cmp/config.json" ] || motiongen train --config configs/baseline_cpu_small.toml --data "$WORK/corpus" --out "$WORK/baseline_cmp" --max-minutes 25 --steps 700 --threads "$THREADS"
motiongen evaluate --models "$WORK/finemogen_cmp" "$WORK/histf_cmp" "$WORK/baseline_cmp" --data "$WORK/corpus" --evaluator "$WORK/evaluator" --sampler dpm --steps 10 --replications 2 --max-items 160 --mm-texts 10 --mm-samples 11 --threads "$THREADS" --json "$WORK/results.json"
python benchmarks/results_table.py "$WORK/results.json"
python benchmarks/aits.py --models "$WORK/finemogen_cmp" "$WORK/histf_cmp" "$WORK/baseline_cmp" --steps 10 50 --sentences 3 --batch 8
