#!/usr/bin/env bash
# Download size and disk space of a fresh install (CPU torch + motiongen) in a new virtual environment.
#   bash benchmarks/install_size.sh [PROJECT_DIR]
# Prints the wheels' total size (what pip downloads) and the environment's size on disk.
set -euo pipefail
project="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" download -q --no-cache-dir -d "$work/wheels" torch==2.13.0 "$project" >/dev/null 2>&1
"$work/venv/bin/pip" install -q --no-cache-dir torch==2.13.0 >/dev/null 2>&1
"$work/venv/bin/pip" install -q --no-cache-dir "$project" >/dev/null 2>&1
echo "download: $(du -sm "$work/wheels" | cut -f1) MB in $(ls "$work/wheels" | wc -l) files (torch $(du -sm "$work"/wheels/torch-* | cut -f1) MB)"
echo "installed: $(du -sm "$work/venv" | cut -f1) MB in the virtual environment"
