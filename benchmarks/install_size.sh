#!/usr/bin/env bash
# Download size and disk space of a fresh install (CPU torch + motiongen) in a new virtual environment.
#   bash benchmarks/install_size.sh [PROJECT_DIR]
# Prints the wheels' total size (what pip downloads) and the environment's size on disk. torch comes as pip finds
# torch==2.13.0; where that is PyPI's CUDA build, set TORCH_INDEX to PyTorch's CPU index (the README's install
# line) so that the CPU wheel is measured: TORCH_INDEX=<that URL> bash benchmarks/install_size.sh
set -euo pipefail
project="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
torch_opts=()
if [ -n "${TORCH_INDEX:-}" ]; then torch_opts=(--index-url "$TORCH_INDEX"); fi
log="$work/pip.log"
run() { "$@" >>"$log" 2>&1 || { echo "failed: $*" >&2; tail -20 "$log" >&2; exit 1; }; }
python3 -m venv "$work/venv"
run "$work/venv/bin/pip" download -q --no-cache-dir -d "$work/wheels" "${torch_opts[@]}" torch==2.13.0
run "$work/venv/bin/pip" download -q --no-cache-dir -d "$work/wheels" "$project"
run "$work/venv/bin/pip" install -q --no-cache-dir "${torch_opts[@]}" torch==2.13.0
run "$work/venv/bin/pip" install -q --no-cache-dir "$project"
case "$(ls "$work"/wheels/torch-*)" in *+cpu*) kind="CPU build";; *) kind="not the CPU build: set TORCH_INDEX";; esac
echo "download: $(du -sm "$work/wheels" | cut -f1) MB in $(ls "$work/wheels" | wc -l) files (torch $(du -sm "$work"/wheels/torch-* | cut -f1) MB, $kind)"
echo "installed: $(du -sm "$work/venv" | cut -f1) MB in the virtual environment"
