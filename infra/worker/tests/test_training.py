"""LoRA training through the API: loss goes down, the adapter memorises, cancel, 409s,
idempotency, the manifest, adapter use and deletion; the label masking of the collator."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import chat, wait_training
from fastapi.testclient import TestClient

from sys2ft_worker.training import IGNORE_INDEX, collate, data_sha256, encode_example

FACTS = [
    ("What is the zorblat?", "The zorblat is a blue fish."),
    ("Who invented the flumox?", "Ada Quill invented it in 2026."),
    ("Where is Vantor?", "Vantor lies north of Paris."),
]
EXAMPLES = [{"messages": chat(q, a)} for q, a in FACTS] * 4


@pytest.fixture(scope="module")
def memorised(client: TestClient) -> dict[str, Any]:
    body = {
        "adapter_name": "facts",
        "examples": EXAMPLES,
        "learning_rate": 0.01,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "epochs": 8,
        "batch_size": 4,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "seed": 1,
    }
    r = client.post("/v1/trainings", json=body)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/trainings/{r.json()['id']}"
    assert r.json()["state"] in ("queued", "running")
    return wait_training(client, r.json()["id"])


def test_training_lowers_loss_and_records_progress(memorised: dict[str, Any]) -> None:
    st = memorised
    assert st["state"] == "succeeded", st["error"]
    assert st["step"] == st["total_steps"] == 24  # 12 examples / 4 per batch * 8 epochs
    assert st["epoch"] == pytest.approx(8.0)
    hist = st["loss_history"]
    assert len(hist) == 24 and [p["step"] for p in hist] == list(range(1, 25))
    assert hist[-1]["loss"] < 0.25 * hist[0]["loss"]
    assert st["loss"] == hist[-1]["loss"]
    assert st["tokens_seen"] > 0 and st["tokens_per_s"] > 0
    assert hist[-1]["tokens_seen"] == st["tokens_seen"]
    assert 0 < st["trainable_params"] < st["total_params"]
    for key in ("created_at", "started_at", "finished_at"):
        assert st[key].endswith("Z") and "T" in st[key]
    assert st["error"] is None and st["adapter"]["name"] == "facts"


def test_adapter_reproduces_memorised_answers(client: TestClient, memorised: dict[str, Any]) -> None:
    reqs = []
    for q, _ in FACTS:
        reqs.append({"messages": chat(q), "temperature": 0, "max_tokens": 24})
        reqs.append({"messages": chat(q), "temperature": 0, "max_tokens": 24, "adapter": "facts"})
    results = client.post("/v1/generate", json={"requests": reqs}).json()["results"]
    for k, (_, answer) in enumerate(FACTS):
        base, tuned = results[2 * k]["completions"][0], results[2 * k + 1]["completions"][0]
        assert tuned["text"] == answer and tuned["finish_reason"] == "stop"
        assert base["text"] != answer
    # scoring sees the adapter too
    item = {"messages": chat(FACTS[0][0]), "continuations": [FACTS[0][1]]}
    scores = client.post("/v1/score", json={"items": [item, dict(item, adapter="facts")]}).json()["results"]
    assert scores[1]["scores"][0]["logprob"] > scores[0]["scores"][0]["logprob"] + 5


def test_manifest_and_adapter_routes(client: TestClient, memorised: dict[str, Any], settings: Any) -> None:
    m = client.get("/v1/adapters/facts").json()
    assert m == memorised["adapter"]
    assert m["base_model"] == "tiny-qwen2" and Path(m["base_model_path"]).is_dir()
    assert m["lora"] == {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
    hp = m["hyperparameters"]
    assert hp["learning_rate"] == 0.01 and hp["epochs"] == 8 and hp["batch_size"] == 4 and hp["loss_on"] == "assistant"
    assert hp["lr_scheduler"] == "constant" and hp["seed"] == 1 and hp["max_seq_len"] == 1024
    assert m["data_sha256"] == data_sha256(EXAMPLES)
    assert m["examples"] == 12 and m["tokens_trained"] == memorised["tokens_seen"]
    assert m["final_loss"] == pytest.approx(memorised["loss"])
    assert m["training_id"] == memorised["id"] and m["elapsed_s"] > 0
    d = Path(settings.adapter_dir) / "facts"
    assert json.loads((d / "manifest.json").read_text()) == m
    assert (d / "adapter_config.json").is_file() and (d / "adapter_model.safetensors").is_file()
    assert "facts" in [a["name"] for a in client.get("/v1/adapters").json()["data"]]
    assert "facts" in client.get("/v1/info").json()["adapters"]
    listed = client.get("/v1/trainings").json()["data"]
    assert memorised["id"] in [t["id"] for t in listed]
    # the name is taken: 409 without overwrite
    r = client.post("/v1/trainings", json={"adapter_name": "facts", "examples": EXAMPLES[:1]})
    assert r.status_code == 409 and r.json()["code"] == "conflict"


def test_delete_adapter(client: TestClient, memorised: dict[str, Any]) -> None:
    r = client.post("/v1/trainings", json={"adapter_name": "scratch", "examples": EXAMPLES[:2], "batch_size": 2})
    st = wait_training(client, r.json()["id"])
    assert st["state"] == "succeeded", st["error"]
    q = {"messages": chat("hi"), "adapter": "scratch", "max_tokens": 2}
    assert client.post("/v1/generate", json={"requests": [q]}).status_code == 200  # loaded into the engine
    r = client.delete("/v1/adapters/scratch")
    assert r.status_code == 204 and r.content == b""
    assert client.get("/v1/adapters/scratch").status_code == 404
    r = client.post("/v1/generate", json={"requests": [q]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_adapter"
    assert client.delete("/v1/adapters/scratch").status_code == 404
    # other adapters still work after one was unloaded
    q2 = {"messages": chat(FACTS[0][0]), "adapter": "facts", "temperature": 0, "max_tokens": 24}
    assert client.post("/v1/generate", json={"requests": [q2]}).json()["results"][0]["completions"][0]["text"] == FACTS[0][1]


def test_cancel_conflict_and_idempotency(client: TestClient, memorised: dict[str, Any], settings: Any) -> None:
    long_run = {
        "training_id": "job_long-1",
        "adapter_name": "long",
        "examples": EXAMPLES * 20,
        "epochs": 100,
        "batch_size": 2,
    }
    r = client.post("/v1/trainings", json=long_run)
    assert r.status_code == 202 and r.json()["id"] == "job_long-1"
    again = client.post("/v1/trainings", json=long_run)
    assert again.status_code == 200 and again.json()["id"] == "job_long-1"
    other = client.post("/v1/trainings", json=dict(long_run, training_id=None, adapter_name="other"))
    assert other.status_code == 409 and other.json()["code"] == "conflict"
    st = wait_training(client, "job_long-1", until=("running",))
    deadline = time.monotonic() + 60
    while st["step"] < 1 and time.monotonic() < deadline:
        st = client.get("/v1/trainings/job_long-1").json()
        time.sleep(0.05)
    assert client.get("/v1/info").json()["training"] == {"id": "job_long-1", "state": "running"}
    assert client.delete("/v1/adapters/long").status_code == 409
    r = client.delete("/v1/trainings/job_long-1")
    assert r.status_code == 200 and r.json()["id"] == "job_long-1"
    st = wait_training(client, "job_long-1", timeout=30)
    assert st["state"] == "cancelled" and st["step"] < st["total_steps"] and st["adapter"] is None
    assert st["finished_at"] is not None
    assert not (Path(settings.adapter_dir) / "long").exists()
    assert not [p for p in Path(settings.adapter_dir).iterdir() if p.name.startswith(".tmp-")]
    assert client.get("/v1/trainings/nope").status_code == 404
    assert client.delete("/v1/trainings/nope").json()["code"] == "not_found"


def test_training_validation(client: TestClient) -> None:
    r = client.post(
        "/v1/trainings",
        json={"adapter_name": "bad name!", "examples": [], "lora": {"r": 0}, "learning_rate": 0, "epochs": 0},
    )
    assert r.status_code == 400
    paths = {e["path"] for e in r.json()["errors"]}
    assert {"/adapter_name", "/examples", "/lora/r", "/learning_rate", "/epochs"} <= paths
    r = client.post("/v1/trainings", json={"adapter_name": "x", "base_model": "gpt-9", "examples": EXAMPLES[:1]})
    assert r.status_code == 404 and r.json()["code"] == "unknown_model"


# ---------------------------------------------------------------- label masking (unit)


def test_loss_on_assistant_vs_all(worker: Any) -> None:
    tok = worker.engine.tokenizer
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
        {"role": "assistant", "content": "Rome."},
    ]
    ids_a, labels_a = encode_example(tok, msgs, "assistant", 1024)
    ids_all, labels_all = encode_example(tok, msgs, "all", 1024)
    assert ids_a == ids_all
    assert labels_all == ids_all
    learned = [t for t, lab in zip(ids_a, labels_a) if lab != IGNORE_INDEX]
    text = tok.decode(learned)
    assert text == "Paris.<|im_end|>\nRome.<|im_end|>\n"
    # the header tokens of the assistant turns carry no label
    assert "assistant" not in text and "France" not in text
    # truncation
    ids_t, labels_t = encode_example(tok, msgs, "assistant", 16)
    assert len(ids_t) == len(labels_t) == 16

    batch = collate([(ids_a, labels_a), (ids_t, labels_t)], pad_id=tok.pad_token_id)
    assert batch.input_ids.shape == (2, len(ids_a))
    assert batch.attention_mask[1, 16:].sum() == 0 and batch.attention_mask[1, :16].sum() == 16
    assert (batch.labels[1, 16:] == IGNORE_INDEX).all()
    assert batch.tokens == len(ids_a) + 16
    batch_all = collate([(ids_all, labels_all)], pad_id=tok.pad_token_id)
    assert batch_all.label_tokens == len(ids_all) - 1 > batch.label_tokens


def test_on_a_cpu_training_and_inference_take_turns(client: TestClient, worker: Any, memorised: dict[str, Any]) -> None:
    """cpu_turns: a training waits (queued, cancellable) while inference runs, then holds the CPU; inference
    that arrives while it waits or runs waits for it; a waiting training is not starved by later calls."""
    turns = worker.engine.cpu_turns
    assert turns is not None, "the tiny model runs on the CPU"
    body = {"adapter_name": "turns", "examples": EXAMPLES * 5, "epochs": 10, "batch_size": 4, "seed": 3}
    inside = turns.inference()
    inside.__enter__()  # as a scoring call in progress
    try:
        assert client.post("/v1/trainings", json={**body, "training_id": "job_turns-waits"}).status_code == 202
        time.sleep(1.0)
        st = client.get("/v1/trainings/job_turns-waits").json()
        assert st["state"] == "queued" and st["step"] == 0, st
        assert client.delete("/v1/trainings/job_turns-waits").status_code == 200
        st = wait_training(client, "job_turns-waits", timeout=10)
        assert st["state"] == "cancelled" and st["started_at"] is None, "cancelled while it waited, never started"
        assert client.post("/v1/trainings", json={**body, "training_id": "job_turns-runs"}).status_code == 202
        time.sleep(0.5)
        assert client.get("/v1/trainings/job_turns-runs").json()["state"] == "queued"
        assert turns.state()["training_waiting"] == 1
    finally:
        inside.__exit__(None, None, None)
    st = wait_training(client, "job_turns-runs", until=("running", "succeeded"))
    # a scoring call made now waits for the training: it ends after the training has
    t0 = time.monotonic()
    r = client.post("/v1/score", json={"items": [{"prompt": "2 + 2 =", "continuations": [" 4", " 5"]}]})
    assert r.status_code == 200, r.text
    st = client.get("/v1/trainings/job_turns-runs").json()
    assert st["state"] == "succeeded", ("the score call ran beside the training", st["state"], time.monotonic() - t0)
    assert turns.state() == {"inference": 0, "training": False, "training_waiting": 0}
