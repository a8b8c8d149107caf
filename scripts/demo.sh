#!/usr/bin/env bash
# Set everything up from scratch (if needed) and run `roosbi demo` on the default problem.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/roosbi demo "$@"
