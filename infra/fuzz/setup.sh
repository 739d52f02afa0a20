#!/usr/bin/env bash
# Create infra/fuzz/.venv: schemathesis (PyPI), fully pinned, for the schema-fuzzing harness
# (test/fuzz.test.ts) that drives each service's live OpenAPI document. Idempotent: a stamp file
# (hash of this script and the requirements) makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
stamp=".venv/.sys2ft-setup"
want="$(cat setup.sh requirements.txt | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.txt
.venv/bin/schemathesis --version
echo "$want" > "$stamp"
echo "fuzz venv ready: $(pwd)/.venv"
