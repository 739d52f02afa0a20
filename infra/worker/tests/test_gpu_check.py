"""The CPU-checkable parts of bench/gpu/run.sh: arguments, the MFU arithmetic, the report format.
(The whole check runs on the CPU with ``bench/gpu/run.sh --dry-run``, in the vllm venv.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench" / "gpu"))

import gpu_check  # noqa: E402
from flops import lora_train_flops_per_token, mfu, peak_for  # noqa: E402


def test_lora_flops_count_forward_input_and_trainable_weight_gradients() -> None:
    # 1e9 frozen, 1e7 LoRA weights, 28 layers of width 1536, 512-token sequences
    f = lora_train_flops_per_token(10**9, 10**7, 28, 1536, 512)
    assert f == 4e9 + 6e7 + 6 * 28 * 1536 * 512
    # 10k tokens/s on an H200 at that cost
    assert mfu(f, 10_000, peak_for("NVIDIA H200")) == pytest.approx(f * 1e4 / 989.4e12)
    assert peak_for("cpu") is None
    with pytest.raises(ValueError):
        lora_train_flops_per_token(0, 1, 1, 1, 1)


def test_arguments() -> None:
    dry = gpu_check.parse_args(["--dry-run", "--out", "/tmp/x"])
    assert dry.device == "cpu" and dry.sizes == gpu_check.DRY_SIZES and dry.out == Path("/tmp/x")
    gpu = gpu_check.parse_args([])
    assert gpu.device == "cuda" and gpu.sizes == gpu_check.GPU_SIZES and gpu.model == "qwen2.5-coder-1.5b-instruct"
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--gpu-memory-utilization", "1.5"])


def test_report_lists_every_figure_and_failed_sections() -> None:
    text = gpu_check.format_report(
        {
            "device": "NVIDIA H200",
            "model": "m",
            "generation": {"worker_tok_s": 1234.5, "worker_over_raw": 0.97},
            "training": {"error": "RuntimeError: boom"},
            "parity": {"scores_ok": True},
            "ok": False,
            "elapsed_s": 300.0,
        }
    )
    lines = text.splitlines()
    assert lines[0].startswith("sys2ft GPU check: NVIDIA H200, m")
    assert any(ln.split() == ["generation", "worker_tok_s", "1234"] for ln in lines)  # 4 significant digits
    assert any(ln.split() == ["generation", "worker_over_raw", "0.97"] for ln in lines)
    assert any(ln.startswith("training") and "FAILED" in ln and "boom" in ln for ln in lines)
    assert lines[-1] == "overall: FAILED in 300 s"
