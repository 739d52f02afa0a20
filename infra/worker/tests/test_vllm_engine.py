"""The vLLM engine imports without vLLM and says clearly what is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sys2ft_worker.adapters import AdapterRegistry
from sys2ft_worker.config import Settings
from sys2ft_worker.errors import EngineUnavailable
from sys2ft_worker.models import ResolvedModel


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_missing_vllm_raises_clear_error(tiny_dir: Path, tmp_path: Path) -> None:
    from sys2ft_worker import engine_vllm

    assert not engine_vllm.vllm_available()
    with pytest.raises(EngineUnavailable, match="needs the 'vllm' package"):
        engine_vllm.VLLMEngine(ResolvedModel("tiny-qwen2", tiny_dir), Settings(engine="vllm"), AdapterRegistry(tmp_path))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_app_with_vllm_engine_fails_to_start_clearly(tiny_dir: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sys2ft_worker.api import create_app

    app = create_app(Settings(model=str(tiny_dir), engine="vllm", adapter_dir=tmp_path))
    with pytest.raises(EngineUnavailable, match="SYS2FT_WORKER_ENGINE=hf"):
        with TestClient(app):
            pass
