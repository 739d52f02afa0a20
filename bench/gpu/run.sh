#!/usr/bin/env bash
# The one-shot GPU check (see bench/gpu/gpu_check.py): under 8 minutes on one H200.
#   bench/gpu/run.sh [--model qwen2.5-coder-1.5b-instruct] [--gpu-memory-utilization 0.5] [--out DIR]
#     in the worker's GPU image (vllm==0.33.0 + requirements-gpu.txt), the model in the cache dir
#     (SYS2FT_WORKER_CACHE_DIR, default .cache/models); python from $PYTHON, else python3.
#   bench/gpu/run.sh --dry-run    the same on the CPU with the tiny model, in infra/worker/.venv-vllm
set -euo pipefail
cd "$(dirname "$0")/../.."
py="${PYTHON:-python3}"
for a in "$@"; do
  if [[ "$a" == "--dry-run" && -z "${PYTHON:-}" ]]; then py="infra/worker/.venv-vllm/bin/python"; fi
done
# A hard stop under the 8-minute budget: a hung engine must not eat the machine's time.
exec timeout --kill-after=10 470 "$py" bench/gpu/gpu_check.py "$@"
