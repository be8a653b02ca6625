#!/usr/bin/env bash
# The test command (README and .ci/run): installs everything, then lint, types, the import
# contracts (layers, no cycles) and tests.
# Slow tests run the real embedded model; they run here too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports  # layers and no import cycles: [tool.importlinter] in pyproject.toml
.venv/bin/python -m pytest -q "$@"
