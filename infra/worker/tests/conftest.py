"""Shared fixtures: the tiny model (built once per session) and one running worker app."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
from fastapi.testclient import TestClient

from sys2ft_worker.api import create_app
from sys2ft_worker.config import Settings
from sys2ft_worker.tiny_model import ensure_tiny_model

MAX_INPUT_TOKENS = 512


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def tiny_dir(cache_dir: Path) -> Path:
    return ensure_tiny_model(cache_dir)


@pytest.fixture(scope="session")
def settings(tiny_dir: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        model="tiny-qwen2",
        cache_dir=cache_dir,
        adapter_dir=tmp_path_factory.mktemp("adapters"),
        dtype="float32",  # exact comparisons against hand-computed log-probabilities
        max_batch=32,
        max_input_tokens=MAX_INPUT_TOKENS,
        threads=2,
    )


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def worker(client: TestClient) -> Any:
    return client.app.state.worker  # type: ignore[attr-defined]


def wait_training(client: TestClient, tid: str, timeout: float = 120.0, until: tuple[str, ...] = ()) -> dict[str, Any]:
    terminal = until or ("succeeded", "failed", "cancelled")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = client.get(f"/v1/trainings/{tid}").json()
        if st["state"] in terminal:
            return st
        time.sleep(0.05)
    raise AssertionError(f"training {tid} did not reach {terminal} in {timeout} s")


def chat(question: str, answer: str | None = None) -> list[dict[str, str]]:
    msgs = [{"role": "user", "content": question}]
    if answer is not None:
        msgs.append({"role": "assistant", "content": answer})
    return msgs
