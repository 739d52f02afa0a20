#!/usr/bin/env bash
# Create infra/fuzz/.venv: schemathesis (PyPI), fully pinned, for the schema-fuzzing harness
# (test/fuzz.test.ts) that drives each service's live OpenAPI document. Idempotent: a stamp file
# (hash of this script and the requirements) makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
source ../venv-stamp.sh
inputs=(setup.sh requirements.txt)
stamp_current .venv/.sys2ft-setup "${inputs[@]}" && exit 0
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.txt
.venv/bin/schemathesis --version
stamp_write .venv/.sys2ft-setup "${inputs[@]}"
echo "fuzz venv ready: $(pwd)/.venv"
