"""Shared-prefix scoring (the default) gives the per-sequence path's log-probabilities: the context
is computed once per item, continuations reuse its KV cache, single-token ones need no forward."""

from __future__ import annotations

from typing import Any

import torch
from conftest import chat
from fastapi.testclient import TestClient

ITEMS: list[dict[str, Any]] = [
    {"messages": chat("Which option is right?\nA. 12\nB. 14\nC. 16\nD. 18"), "prefix": "The answer is",
     "continuations": [" A", " B", " C", " D", " 12", " 14 apples and a long tail of words", " 16", " 18"]},
    {"prompt": "Numbers: one two three four five six seven eight nine", "continuations": [" ten", " eleven twelve"]},
    {"messages": chat("Short?"), "continuations": ["Yes.", "No, it is not short at all, it is rather long."]},
    {"prompt": "x", "prefix": " y", "continuations": [" z", ""]},
]


def score(client: TestClient, items: list[dict[str, Any]], strategy: str) -> list[list[dict[str, Any]]]:
    r = client.post("/v1/score", json={"items": items, "strategy": strategy})
    assert r.status_code == 200, r.text
    return [res["scores"] for res in sorted(r.json()["results"], key=lambda x: x["index"])]


def test_shared_prefix_equals_per_sequence(client: TestClient) -> None:
    shared = score(client, ITEMS, "shared_prefix")
    per_seq = score(client, ITEMS, "per_sequence")
    for a_item, b_item in zip(shared, per_seq):
        for a, b in zip(a_item, b_item):
            assert a["tokens"] == b["tokens"]
            assert abs(a["logprob"] - b["logprob"]) < 1e-4, (a, b)
    assert shared[3][1] == {"logprob": 0.0, "tokens": 0}  # an empty continuation


def test_prefix_is_context_not_scored(client: TestClient, worker: Any) -> None:
    """A prefix is read as part of the context: scoring ' B' after prefix 'The answer is' equals
    scoring ' B' after the same text put in the raw prompt, and differs from no prefix."""
    tok = worker.engine.tokenizer
    msgs = chat("Pick one.")
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    with_prefix = score(client, [{"messages": msgs, "prefix": "The answer is", "continuations": [" B"]}], "shared_prefix")
    as_prompt = score(client, [{"prompt": text + "The answer is", "continuations": [" B"]}], "shared_prefix")
    bare = score(client, [{"messages": msgs, "continuations": [" B"]}], "shared_prefix")
    assert abs(with_prefix[0][0]["logprob"] - as_prompt[0][0]["logprob"]) < 1e-5
    assert with_prefix[0][0]["tokens"] == len(tok(" B", add_special_tokens=False)["input_ids"])
    assert abs(with_prefix[0][0]["logprob"] - bare[0][0]["logprob"]) > 1e-4


def test_item_alone_equals_item_in_a_group(client: TestClient) -> None:
    grouped = score(client, ITEMS, "shared_prefix")
    for k, item in enumerate(ITEMS):
        alone = score(client, [item], "shared_prefix")[0]
        for a, b in zip(alone, grouped[k]):
            assert abs(a["logprob"] - b["logprob"]) < 1e-4


def test_letters_need_one_forward(client: TestClient, worker: Any) -> None:
    """Four single-token continuations (letters, with a real tokenizer) of 5 questions: one
    forward over the contexts, nothing else."""
    stats = worker.engine.stats
    tok = worker.engine.tokenizer
    singles = [t for t in (tok.decode([i]) for i in range(200, 400)) if len(tok(t, add_special_tokens=False)["input_ids"]) == 1]
    letters = singles[:4]
    assert len(letters) == 4
    items = [{"messages": chat(f"Question {i}?"), "prefix": "The answer is", "continuations": letters} for i in range(5)]
    before = stats.snapshot()["score_batches"]
    score(client, items, "shared_prefix")
    assert stats.snapshot()["score_batches"] - before == 1


def test_fp32_logprobs_match_full_log_softmax(worker: Any) -> None:
    """The vocabulary-sliced float32 log-softmax equals torch's over the whole vocabulary."""
    engine = worker.engine
    n = 1100  # more than one slice of positions
    hidden = torch.randn(n, engine.model.config.hidden_size)
    head = engine.model.get_output_embeddings()
    targets = torch.randint(0, head.weight.shape[0], (n,))
    want = torch.log_softmax(hidden.float() @ head.weight.float().T, dim=-1).gather(-1, targets[:, None]).squeeze(-1)
    got = engine._fp32_logprobs(hidden, targets)
    assert torch.allclose(got, want, atol=1e-5)


def test_unknown_strategy_is_422(client: TestClient) -> None:
    r = client.post("/v1/score", json={"items": ITEMS[:1], "strategy": "fastest"})
    assert r.status_code == 400
    assert any(e["path"] == "/strategy" for e in r.json()["errors"]), r.text
