#!/usr/bin/env bash
# Create infra/helm/.venv: what test/helm.test.ts renders and validates the chart with (check.py):
# Helm's Go SDK (helm-python-sdk) and the Kubernetes JSON schemas (kubernetes-validate), every wheel
# pinned by version and sha256 (--require-hashes, --no-deps: nothing unlisted is installed).
# Idempotent: a stamp file (hash of this script and the requirements) makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
source ../venv-stamp.sh
inputs=(setup.sh requirements.txt)
stamp_current .venv/.sys2ft-setup "${inputs[@]}" && exit 0
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements.txt
.venv/bin/python -c "from helm_python import _native as n; import kubernetes_validate; print('helm SDK', n.helm_sdk_version(), '| kubernetes-validate', kubernetes_validate.__version__ if hasattr(kubernetes_validate, '__version__') else '')"
stamp_write .venv/.sys2ft-setup "${inputs[@]}"
echo "helm check venv ready: $(pwd)/.venv"
