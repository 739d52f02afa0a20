"""POST /v1/score equals log-probabilities computed by hand from the model's logits."""

from __future__ import annotations

from typing import Any

import torch
from conftest import chat
from fastapi.testclient import TestClient


def manual_logprob(worker: Any, context_ids: list[int], continuation: str) -> tuple[float, int]:
    engine = worker.engine
    cont = engine.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([context_ids + cont])
    # the base model: once a test has used an adapter, engine.model is wrapped with it active
    with torch.inference_mode(), engine._adapter(None):
        logits = engine.model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    total = sum(float(logp[len(context_ids) + k - 1, cont[k]]) for k in range(len(cont)))
    return total, len(cont)


def test_score_prompt_matches_manual(client: TestClient, worker: Any) -> None:
    prompt = "The capital of France is"
    conts = [" Paris", " London and the river", "!"]
    r = client.post("/v1/score", json={"items": [{"prompt": prompt, "continuations": conts}]})
    assert r.status_code == 200, r.text
    scores = r.json()["results"][0]["scores"]
    ctx = worker.engine.tokenizer(prompt)["input_ids"]
    for cont, got in zip(conts, scores):
        want, n = manual_logprob(worker, ctx, cont)
        assert got["tokens"] == n
        assert abs(got["logprob"] - want) < 1e-3, (cont, got, want)


def test_score_messages_matches_manual_and_batching_is_exact(client: TestClient, worker: Any) -> None:
    msgs = chat("What is the zorblat?")
    items = [
        {"messages": msgs, "continuations": ["It is a fish.", "No idea"]},
        {"prompt": "Numbers: one two three four five six seven eight nine", "continuations": [" ten"]},
    ]
    body = client.post("/v1/score", json={"items": items}).json()
    tok = worker.engine.tokenizer
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    ctx = tok(text, add_special_tokens=False)["input_ids"]
    for cont, got in zip(items[0]["continuations"], body["results"][0]["scores"]):
        want, n = manual_logprob(worker, ctx, cont)
        assert got["tokens"] == n and abs(got["logprob"] - want) < 1e-3
    # the same item scored alone (no padding neighbours) gives the same value
    alone = client.post("/v1/score", json={"items": [items[1]]}).json()
    assert abs(alone["results"][0]["scores"][0]["logprob"] - body["results"][1]["scores"][0]["logprob"]) < 1e-4


def test_score_is_one_batch(client: TestClient, worker: Any) -> None:
    stats = worker.engine.stats
    items = [{"prompt": f"Item {i} says", "continuations": [" yes", " no", " maybe so"]} for i in range(8)]
    before = stats.snapshot()["score_batches"]
    r = client.post("/v1/score", json={"items": items, "strategy": "per_sequence"})
    assert r.status_code == 200
    assert [len(x["scores"]) for x in r.json()["results"]] == [3] * 8
    assert stats.snapshot()["score_batches"] - before == 1  # 24 sequences <= max_batch 32
    # shared prefix: one forward over the 8 contexts, one over the continuations' later tokens
    before = stats.snapshot()["score_batches"]
    assert client.post("/v1/score", json={"items": items}).status_code == 200
    assert stats.snapshot()["score_batches"] - before == 2
