#!/usr/bin/env bash
# Create infra/worker/.venv with the worker's pinned dependencies. Idempotent: a stamp file
# (hash of this script and the requirements) makes a second run a no-op.
# torch is installed FIRST and pinned: on the project's machines that takes the CPU build on
# disk; an unpinned torch would make pip pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
TORCH_VERSION="2.13.0"
stamp=".venv/.sys2ft-setup"
want="$(cat setup.sh requirements.txt | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==${TORCH_VERSION}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt "torch==${TORCH_VERSION}"
.venv/bin/python - <<PYEOF
import torch
assert torch.__version__.split("+")[0] == "${TORCH_VERSION}", f"pip replaced torch: {torch.__version__}"
PYEOF
echo "$want" > "$stamp"
echo "worker venv ready: $(pwd)/.venv"
