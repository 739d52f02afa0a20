#!/usr/bin/env bash
# Create infra/lmeval/.venv: lm-evaluation-harness (PyPI lm-eval, HF backend), fully pinned, in a
# venv of its own so that it never changes the worker's. Idempotent: a stamp file (hash of this
# script and the requirements) makes a second run a no-op. torch is installed FIRST and pinned (the
# CPU build on the project's machines), and the requirements are installed with it pinned again.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
source ../venv-stamp.sh
inputs=(setup.sh requirements.txt)
stamp_current .venv/.sys2ft-setup "${inputs[@]}" && exit 0
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==${TORCH_VERSION}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt "torch==${TORCH_VERSION}"
.venv/bin/python - <<PYEOF
import torch, lm_eval  # noqa: F401
assert torch.__version__.split("+")[0] == "${TORCH_VERSION}", f"pip replaced torch: {torch.__version__}"
PYEOF
stamp_write .venv/.sys2ft-setup "${inputs[@]}"
echo "lm-eval venv ready: $(pwd)/.venv"
