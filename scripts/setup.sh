#!/usr/bin/env bash
# Create .venv and install roosbi with torch and the test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: a plain `torch` requirement pulls a multi-GB CUDA build on machines
# without a local CPU wheel; the project itself asks only for torch>=2.2.
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e '.[torch,test]'
