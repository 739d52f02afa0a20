"""Bounded training memory: trainings run in a child process on the serving engine's shared base
weights, gradient checkpointing changes memory and not the result, and a training that would not
fit is refused before it starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import chat, wait_training
from fastapi.testclient import TestClient

from sys2ft_worker.api import create_app
from sys2ft_worker.config import Settings
from sys2ft_worker.training_memory import model_from_shared

EXAMPLES = [{"messages": chat(f"What is fact {i}?", f"Fact {i} is that the moon is {i} km away.")} for i in range(8)]


def train(client: TestClient, name: str, **extra: Any) -> dict[str, Any]:
    body = {"adapter_name": name, "examples": EXAMPLES, "epochs": 2, "batch_size": 4, "learning_rate": 0.01,
            "lr_scheduler": "constant", "warmup_ratio": 0.0, "seed": 3, "overwrite": True, **extra}
    r = client.post("/v1/trainings", json=body)
    assert r.status_code == 202, r.text
    return wait_training(client, r.json()["id"])


def test_model_from_shared_weights_is_the_serving_model(worker: Any) -> None:
    """The training side's model is built on the very same memory and computes the same logits."""
    engine = worker.engine
    shared = engine._shared
    assert shared is not None and shared.buffer.is_shared()
    rebuilt = model_from_shared(engine.model_path, torch.float32, shared)
    for (name, p), (_, q) in zip(engine.model.get_base_model().named_parameters() if hasattr(engine.model, "get_base_model") else engine.model.named_parameters(), rebuilt.named_parameters()):
        assert p.data_ptr() == q.data_ptr(), name
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.inference_mode():
        assert torch.allclose(engine.model(input_ids=ids).logits, rebuilt(input_ids=ids).logits)


def test_checkpointing_gives_the_same_training(client: TestClient) -> None:
    plain = train(client, "mem-plain", gradient_checkpointing=False)
    ckpt = train(client, "mem-ckpt", gradient_checkpointing=True)
    assert plain["state"] == ckpt["state"] == "succeeded"
    assert plain["gradient_checkpointing"] is False and ckpt["gradient_checkpointing"] is True
    for a, b in zip(plain["loss_history"], ckpt["loss_history"]):
        assert abs(a["loss"] - b["loss"]) < 1e-3, (a, b)
    assert plain["memory_estimate_bytes"] > ckpt["memory_estimate_bytes"] > 0


def test_auto_checkpointing_follows_the_estimate(client: TestClient) -> None:
    small = train(client, "mem-auto")  # tiny model, short examples: activations far below 1 GiB
    assert small["state"] == "succeeded" and small["gradient_checkpointing"] is False


@pytest.fixture(scope="module")
def tight_client(tiny_dir: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = Settings(model="tiny-qwen2", cache_dir=cache_dir, device="cpu", dtype="float32", max_input_tokens=512,
                        adapter_dir=tmp_path_factory.mktemp("adapters-tight"), memory_limit_gb=0.7)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_training_that_would_not_fit_is_refused_before_it_starts(tight_client: TestClient) -> None:
    body = {"adapter_name": "too-big", "examples": EXAMPLES, "batch_size": 512, "max_seq_len": 32768}
    r = tight_client.post("/v1/trainings", json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "insufficient_memory"
    assert {e["path"] for e in problem["errors"]} == {"/batch_size", "/max_seq_len"}
    assert "GiB" in problem["detail"]
    assert tight_client.get("/v1/trainings").json()["data"] == []  # nothing was queued
    assert tight_client.get("/v1/adapters/too-big").status_code == 404
