#!/usr/bin/env bash
# One command for a newcomer or CI: set up (weights included), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check p3mask tests scripts   # lint (config: [tool.ruff] in pyproject.toml)
.venv/bin/python -m pytest -q "$@"
