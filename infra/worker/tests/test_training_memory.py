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
from sys2ft_worker.engine_hf import load_causal_lm
from sys2ft_worker.training_memory import model_from_shared

EXAMPLES = [{"messages": chat(f"What is fact {i}?", f"Fact {i} is that the moon is {i} km away.")} for i in range(8)]


def train(client: TestClient, name: str, **extra: Any) -> dict[str, Any]:
    body = {"adapter_name": name, "examples": EXAMPLES, "epochs": 2, "batch_size": 4, "learning_rate": 0.01,
            "lr_scheduler": "constant", "warmup_ratio": 0.0, "seed": 3, "overwrite": True, **extra}
    r = client.post("/v1/trainings", json=body)
    assert r.status_code == 202, r.text
    return wait_training(client, r.json()["id"])


def test_model_from_shared_weights_is_the_serving_model(worker: Any) -> None:
    """The training side's model is built on the very memory the engine serves from (adapters the
    engine may have loaded meanwhile do not change the base tensors) and computes the model's logits."""
    engine = worker.engine
    shared = engine._shared
    assert shared is not None and shared.buffer.is_shared()
    views = shared.tensors()
    rebuilt = model_from_shared(engine.model_path, torch.float32, shared)
    for name, q in rebuilt.named_parameters(remove_duplicate=False):
        assert q.data_ptr() == views[name].data_ptr(), name
    start, end = shared.buffer.data_ptr(), shared.buffer.data_ptr() + shared.buffer.numel()
    serving = [p for n, p in engine.model.named_parameters() if "lora_" not in n]
    assert serving and all(start <= p.data_ptr() < end for p in serving), "the engine serves from the shared buffer"
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    fresh = load_causal_lm(engine.model_path, "float32", "cpu")
    with torch.inference_mode():
        assert torch.allclose(fresh(input_ids=ids).logits, rebuilt(input_ids=ids).logits, atol=1e-5)


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


def test_a_training_dies_with_its_worker(tiny_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    """kill -9 of the worker mid-training: its training process goes too (no orphan trains on)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx
    import psutil

    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "SYS2FT_WORKER_CACHE_DIR": str(cache_dir), "SYS2FT_WORKER_ADAPTER_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "sys2ft_worker", "--model", "tiny-qwen2", "--port", str(port), "--dtype", "float32"],
                            cwd=Path(__file__).resolve().parents[1], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        many = EXAMPLES * 40
        r = httpx.post(f"{url}/v1/trainings", json={"adapter_name": "orphan", "examples": many, "epochs": 50, "batch_size": 2})
        assert r.status_code == 202, r.text
        for _ in range(120):
            if httpx.get(f"{url}/v1/trainings/{r.json()['id']}").json()["step"] > 0:
                break
            time.sleep(0.5)
        tree = psutil.Process(proc.pid).children(recursive=True)
        assert tree, "the training runs in child processes"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        gone, alive = psutil.wait_procs(tree, timeout=15)
        assert not alive, f"still running after the worker died: {[p.pid for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
