#!/usr/bin/env bash
# Set everything up from scratch (if needed) and run the linter and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check roosbi tests benchmarks
.venv/bin/ruff format --check roosbi tests benchmarks
.venv/bin/python -m pytest
