#!/usr/bin/env bash
# Train the shipped model (or continue it) on a lent GPU for a number of minutes; weights go under $OUT:
#
#   bash scripts/gpu_train.sh --model finemogen --minutes 8 --data gpu_payload/corpus    # continue the shipped one
#   bash scripts/gpu_train.sh --model histf --minutes 8 --source shared/data/bvh --fresh
#   bash scripts/gpu_train.sh --tiny --model histf --data CORPUS                         # CPU, for tests
#
# Installs carried wheels from .whl/ first (as gpu_check.sh does). $OUT/model is an fp16 model folder for the CPU
# side to evaluate (motiongen evaluate) and ship (scripts/ship_model.py). All options: scripts/gpu_train.py --help.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu-train-out}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >"$OUT/install.log" 2>&1 && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PYTHONUNBUFFERED=1 "$PY" scripts/gpu_train.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_train.log"
