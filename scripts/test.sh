#!/usr/bin/env bash
# The test command (README and .ci/run): installs everything, then lint, types and tests.
# Slow tests run the real embedded model; they run here too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
