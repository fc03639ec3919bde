#!/usr/bin/env bash
# One command for a newcomer or CI: set up (weights included), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
