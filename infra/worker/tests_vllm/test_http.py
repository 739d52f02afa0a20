"""The worker served with SYS2FT_WORKER_ENGINE=vllm: an adapter the worker trained is served by
vLLM (loaded while other requests run) and answers differently from the base; cancel; bad input."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sys2ft_worker.protocol import ScoreItem
from tests.conftest import chat, wait_training

FACT = ("What is the zorblat?", "The zorblat is a blue fish.")
Q = {"messages": chat(FACT[0]), "temperature": 0.0, "max_tokens": 12}


def test_info_names_the_vllm_engine_on_the_cpu(client: TestClient) -> None:
    info = client.get("/v1/info").json()
    assert (info["engine"], info["device"], info["dtype"]) == ("vllm", "cpu", "float32")


@pytest.fixture(scope="module")
def trained(client: TestClient) -> dict[str, Any]:
    """Train while the engine serves base-model requests from another thread."""
    stop = threading.Event()
    served: list[int] = []

    def serve() -> None:
        while not stop.is_set():
            r = client.post("/v1/generate", json={"requests": [dict(Q, max_tokens=4)]})
            served.append(r.status_code)

    t = threading.Thread(target=serve)
    t.start()
    try:
        body = {
            "adapter_name": "facts",
            "examples": [{"messages": chat(*FACT)}] * 8,
            "learning_rate": 0.01,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "epochs": 6,
            "batch_size": 4,
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
            "seed": 1,
        }
        r = client.post("/v1/trainings", json=body)
        assert r.status_code == 202, r.text
        st = wait_training(client, r.json()["id"], timeout=240)
        adapter_reply = client.post("/v1/generate", json={"requests": [dict(Q, adapter="facts")]})
    finally:
        stop.set()
        t.join()
    assert st["state"] == "succeeded", st["error"]
    return {"status": st, "reply": adapter_reply, "served": served}


def test_adapter_trained_by_the_worker_changes_vllm_answer(client: TestClient, trained: dict[str, Any]) -> None:
    assert trained["served"] and set(trained["served"]) == {200}  # base requests kept being served
    assert trained["reply"].status_code == 200, trained["reply"].text
    tuned = trained["reply"].json()["results"][0]["completions"][0]["text"]
    base = client.post("/v1/generate", json={"requests": [Q]}).json()["results"][0]["completions"][0]["text"]
    assert tuned != base
    assert tuned.startswith("The zorblat")  # 6 epochs at lr 0.01 memorise the answer


def test_adapter_scores_match_hf(worker: Any, hf: Any, trained: dict[str, Any]) -> None:
    items = [
        ScoreItem(messages=chat(FACT[0]), adapter="facts", continuations=[FACT[1], "No idea."]),
        ScoreItem(messages=chat(FACT[0]), continuations=[FACT[1], "No idea."]),
    ]
    got, want = worker.engine.score(items), hf.score(items, "per_sequence")
    for g, w in zip(got, want):
        for gs, ws in zip(g.scores, w.scores):
            assert gs.logprob == pytest.approx(ws.logprob, abs=1e-3 * ws.tokens)
    assert got[0].scores[0].logprob > got[1].scores[0].logprob + 1.0  # the adapter learned the fact


def test_cancel_a_training_while_serving(client: TestClient, trained: dict[str, Any]) -> None:
    r = client.post(
        "/v1/trainings",
        json={"adapter_name": "long", "examples": [{"messages": chat(*FACT)}] * 64, "epochs": 100, "batch_size": 2},
    )
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    st = wait_training(client, tid, until=("running",), timeout=120)
    deadline = time.monotonic() + 120
    while st["step"] < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
        st = client.get(f"/v1/trainings/{tid}").json()
    assert client.post("/v1/generate", json={"requests": [Q]}).status_code == 200  # serving during training
    assert client.delete(f"/v1/trainings/{tid}").status_code == 200
    st = wait_training(client, tid, timeout=60)
    assert st["state"] == "cancelled" and st["adapter"] is None
    r = client.post("/v1/generate", json={"requests": [dict(Q, adapter="long")]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_adapter"


def test_bad_input_is_a_problem_naming_the_field(client: TestClient) -> None:
    r = client.post("/v1/generate", json={"requests": [dict(Q, max_tokens=0)]})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["path"] for e in r.json()["errors"]] == ["/requests/0/max_tokens"]
    r = client.post("/v1/score", json={"items": [{"prompt": "x", "continuations": ["a"]}], "strategy": "fast"})
    assert r.status_code == 400 and [e["path"] for e in r.json()["errors"]] == ["/strategy"]
    r = client.post("/v1/score", json={"items": [{"prompt": "x " * 600, "continuations": ["a"]}]})
    assert r.status_code == 400 and r.json()["code"] == "input_too_long"
    assert r.json()["errors"][0]["path"] == "/items/0/continuations/0"
    r = client.post("/v1/generate", json={"requests": [Q, dict(Q, adapter="missing")]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_adapter"


def test_context_distillation_trains_on_vllm_teacher_targets(client: TestClient) -> None:
    """The vllm engine's top-k trace is a teacher the shared training child learns from (objective distill)."""
    news = {"role": "system", "content": "News: the zorblat is a blue fish, found in 2026."}
    r = client.post("/v1/generate", json={"requests": [{"messages": [news, *chat(FACT[0])], "max_tokens": 10, "seed": 3, "top_logprobs": 4}]})
    assert r.status_code == 200, r.text
    c = r.json()["results"][0]["completions"][0]
    example = {"messages": chat(FACT[0], c["text"] or "-"), "distill": {"token_ids": [t["id"] for t in c["tokens"]], "top": [t["top"] for t in c["tokens"]], "k": 4}}
    body = {"adapter_name": "distilled", "examples": [example] * 4, "objective": "distill", "learning_rate": 0.01, "lr_scheduler": "constant", "warmup_ratio": 0.0, "epochs": 4, "batch_size": 4, "lora": {"r": 8, "alpha": 16, "dropout": 0.0}}
    r = client.post("/v1/trainings", json=body)
    assert r.status_code == 202, r.text
    st = wait_training(client, r.json()["id"], timeout=240)
    assert st["state"] == "succeeded", st["error"]
    assert st["loss_history"][-1]["loss"] < st["loss_history"][0]["loss"]
    assert st["adapter"]["hyperparameters"]["objective"] == "distill" and st["adapter"]["hyperparameters"]["distill_k"] == 4
