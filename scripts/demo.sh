#!/usr/bin/env bash
# One command for a newcomer: set up, then run the main job on the built-in default user.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/p3mask demo "$@"
