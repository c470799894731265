#!/usr/bin/env bash
# The one command for a lent GPU machine (finishes in under 8 minutes; the report goes under $OUT):
#
#   bash scripts/gpu_check.sh            # on the GPU machine, from the repository root
#   bash scripts/gpu_check.sh --tiny     # tiny models on the CPU (what the test suite runs)
#
# 1. installs what the machine lacks: carried wheels in .whl/ (see docs/training.md: diffusers and the other
#    motiongen dependencies that machine does not have), then tries mamba-ssm (from .whl/ or a registry, with a
#    short timeout) and says in the report whether it is there;
# 2. runs scripts/gpu_check.py: paper-size training of each model in bf16 (steps/s, peak memory, loss falling, no
#    NaN), torchrun with 2 processes on the one GPU, sampling (AITS at batch 1 and motions/s at batch 64, 10 steps,
#    beside the papers' figures) and CUDA output against CPU output of the same weights.
# Extra arguments go to gpu_check.py (e.g. --train-seconds 40 --models histf).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu-check-out}"
mkdir -p "$OUT"
LOG="$OUT/install.log"
: > "$LOG"
PY="${PYTHON:-python3}"
tiny=0
for a in "$@"; do [ "$a" = "--tiny" ] && tiny=1; done
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        >>"$LOG" 2>&1 && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}" && echo "wheels from .whl/ installed" >>"$LOG"
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if [ "$tiny" = 0 ]; then
    if "$PY" -c "import mamba_ssm" >>"$LOG" 2>&1; then
        echo "mamba-ssm: already installed" >>"$LOG"
    elif timeout 120 "$PY" -m pip install -q --no-build-isolation --target /tmp/site-mamba --timeout 10 --retries 0 \
            mamba-ssm >>"$LOG" 2>&1 && PYTHONPATH="/tmp/site-mamba:$PYTHONPATH" "$PY" -c "import mamba_ssm" >>"$LOG" 2>&1; then
        export PYTHONPATH="/tmp/site-mamba:$PYTHONPATH"
        echo "mamba-ssm: installed" >>"$LOG"
    else
        echo "mamba-ssm: did not install (no registry reachable, or its CUDA build failed); the PyTorch scans are used" >>"$LOG"
    fi
fi
tail -n 3 "$LOG"
PYTHONUNBUFFERED=1 "$PY" scripts/gpu_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
