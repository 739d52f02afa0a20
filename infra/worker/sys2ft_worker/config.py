"""Worker settings, read from the environment (prefix ``SYS2FT_WORKER_``) or CLI flags."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

EngineName = Literal["hf", "vllm"]
DeviceName = Literal["auto", "cpu", "cuda"]
DtypeName = Literal["auto", "bfloat16", "float16", "float32"]
TrainingMode = Literal["auto", "thread", "process"]


def repo_root() -> Path:
    """The sys2ft repository root (``infra/worker/sys2ft_worker`` is three levels down)."""
    return Path(__file__).resolve().parents[3]


def default_cache_dir() -> Path:
    return repo_root() / ".cache" / "models"


class Settings(BaseSettings):
    """Every knob of the worker. Env names are ``SYS2FT_WORKER_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(env_prefix="SYS2FT_WORKER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    model: str | None = Field(
        default=None, description="Model id, alias or local directory to load at start (required)."
    )
    engine: EngineName = "hf"
    device: DeviceName = "auto"
    dtype: DtypeName = "auto"
    adapter_dir: Path = Path(".data/adapters")
    cache_dir: Path = Field(default_factory=default_cache_dir)
    api_key: str | None = None
    max_batch: int = Field(default=32, ge=1, le=4096)
    max_input_tokens: int = Field(default=4096, ge=16)
    threads: int | None = Field(default=None, ge=1, description="torch threads; default all cores")
    training_mode: TrainingMode = Field(
        default="auto",
        description="Where LoRA training runs: 'process' (the default: a child process per training) or 'thread'.",
    )
    gpu_memory_utilization: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="vLLM's share of GPU memory (training gets the rest); on vLLM's CPU build, its share of RAM.",
    )
    kv_cache_gib: float | None = Field(
        default=None, gt=0.0, description="vLLM KV cache size in GiB (kv_cache_memory_bytes); overrides the share."
    )
    max_lora_rank: int = Field(default=64, ge=1, le=512, description="vLLM max_lora_rank")
    max_model_len: int | None = Field(default=None, ge=16, description="vLLM max_model_len")
    memory_limit_gb: float | None = Field(
        default=None, gt=0, description="Memory a training may use beside the loaded model; default: what the system has free."
    )
    cpu_turns: bool = Field(
        default=True,
        description=(
            "On a CPU, a training waits until no scoring or generation is running, and they wait for it: "
            "two torch processes on the same cores (each with all of them) run both several times slower "
            "than one after the other."
        ),
    )
    log_level: str = "INFO"

    def resolved_training_mode(self) -> Literal["thread", "process"]:
        if self.training_mode != "auto":
            return self.training_mode
        return "process"  # the child's memory goes back to the system when a training ends

    def resolved_threads(self) -> int:
        return self.threads or os.cpu_count() or 1


@lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """True when the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False
