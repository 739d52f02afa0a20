"""Context distillation through the API: the KL loss checked by hand on the tiny model, training on a
with-news teacher's targets moves the no-news student toward it, bad targets answer 400 naming the
field, the manifest records the objective and k, and the examples' hash is the training service's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import chat, wait_training
from fastapi.testclient import TestClient
from transformers import AutoModelForCausalLM, AutoTokenizer

from sys2ft_worker.canonical import canonical_json, js_number
from sys2ft_worker.training import data_sha256

K = 8
NEWS = "News: the town of Umbra now prices every widget at seven coins, by a law passed in March 2026."
QUESTIONS = ["What does a widget cost in Umbra?", "When did Umbra change its widget price?", "Who passed the widget law?", "How many coins is a widget?"]


@pytest.fixture(scope="module")
def teacher(client: TestClient) -> list[dict[str, Any]]:
    """One example per question: the teacher answered with the news in context; the student sees only the question."""
    reqs = [{"messages": [{"role": "system", "content": NEWS}, {"role": "user", "content": q}], "max_tokens": 12, "seed": i, "top_logprobs": K} for i, q in enumerate(QUESTIONS)]
    r = client.post("/v1/generate", json={"requests": reqs})
    assert r.status_code == 200, r.text
    out = []
    for q, res in zip(QUESTIONS, r.json()["results"]):
        c = res["completions"][0]
        toks = c["tokens"]
        out.append({"messages": chat(q, c["text"] or "-"), "distill": {"token_ids": [t["id"] for t in toks], "top": [t["top"] for t in toks], "k": K}})
    return out


@pytest.fixture(scope="module")
def student(tiny_dir: Path) -> tuple[Any, Any]:
    """The base model loaded on its own, float32: the reference the worker's loss is checked against."""
    return AutoTokenizer.from_pretrained(tiny_dir), AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32).eval()


def kl_by_hand(tok: Any, model: Any, example: dict[str, Any]) -> tuple[float, int]:
    """Summed KL(teacher top-k renormalised ‖ student) over the example's target tokens, and their count."""
    prompt = tok.apply_chat_template(example["messages"][:-1], tokenize=False, add_generation_prompt=True)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = prompt_ids + example["distill"]["token_ids"]
    with torch.no_grad():
        logq = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
    total = 0.0
    for j, top in enumerate(example["distill"]["top"]):
        z = sum(math.exp(lp) for _, lp in top)
        for tid, lp in top:
            p = math.exp(lp) / z
            total += p * (math.log(p) - float(logq[len(prompt_ids) + j - 1, tid]))
    return total, len(example["distill"]["top"])


def mean_kl(tok: Any, model: Any, examples: list[dict[str, Any]]) -> float:
    parts = [kl_by_hand(tok, model, ex) for ex in examples]
    return sum(s for s, _ in parts) / sum(n for _, n in parts)


def train(client: TestClient, name: str, examples: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {"adapter_name": name, "examples": examples, "objective": "distill", "lora": {"r": 8, "alpha": 16, "dropout": 0.0}, "seed": 1, **extra}
    r = client.post("/v1/trainings", json=body)
    assert r.status_code == 202, r.text
    st = wait_training(client, r.json()["id"])
    assert st["state"] == "succeeded", st["error"]
    return st


def test_the_loss_is_the_hand_computed_kl(client: TestClient, teacher: list[dict[str, Any]], student: tuple[Any, Any]) -> None:
    # LoRA starts as the identity (B = 0): the first step's loss is the base model's KL, averaged per target token
    st = train(client, "distill-one-step", teacher[:1], batch_size=1, learning_rate=1e-6)
    by_hand, n = kl_by_hand(*student, teacher[0])
    assert n == len(teacher[0]["distill"]["token_ids"]) > 1
    assert by_hand / n > 0.1, "the tiny model without the news is far from itself with it"
    assert st["loss_history"][0]["loss"] == pytest.approx(by_hand / n, rel=1e-4)
    m = client.get("/v1/adapters/distill-one-step").json()
    assert m["hyperparameters"]["objective"] == "distill" and m["hyperparameters"]["distill_k"] == K
    assert m["data_sha256"] == data_sha256(teacher[:1])


def test_training_moves_the_student_toward_the_teacher(client: TestClient, teacher: list[dict[str, Any]], student: tuple[Any, Any], settings: Any, tiny_dir: Path) -> None:
    from peft import PeftModel

    tok, base = student
    before = mean_kl(tok, base, teacher)
    st = train(client, "distill-fit", teacher, batch_size=2, epochs=10, learning_rate=1e-2, lr_scheduler="constant", warmup_ratio=0.0)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir, dtype=torch.float32), str(Path(settings.adapter_dir) / "distill-fit")).eval()
    after = mean_kl(tok, tuned, teacher)
    print(f"KL(teacher top-{K} || student) per target token on the tiny model: before {before:.4f}, after {after:.4f}")
    assert after < 0.5 * before, (before, after)
    assert st["loss_history"][-1]["loss"] < st["loss_history"][0]["loss"]


def test_examples_without_targets_keep_cross_entropy(client: TestClient, teacher: list[dict[str, Any]]) -> None:
    plain = {"messages": chat("What is the zorblat?", "The zorblat is a blue fish.")}
    st = train(client, "distill-mixed", [teacher[0], plain], batch_size=2)
    m = client.get("/v1/adapters/distill-mixed").json()
    assert m["examples_used"] == 2 and m["data_sha256"] == data_sha256([teacher[0], plain])
    assert st["tokens_seen"] > 0


def test_bad_targets_answer_400_naming_the_field(client: TestClient, teacher: list[dict[str, Any]]) -> None:
    ex = teacher[0]
    d = ex["distill"]

    def errors(examples: list[dict[str, Any]], objective: str = "distill") -> set[str]:
        r = client.post("/v1/trainings", json={"adapter_name": "distill-bad", "examples": examples, "objective": objective})
        assert r.status_code == 400 and r.json()["code"] == "validation_failed", r.text
        return {e["path"] for e in r.json()["errors"]}

    plain = {"messages": ex["messages"]}
    assert errors([plain]) == {"/objective"}, "distill with no targets"
    assert errors([ex], "sft") == {"/examples/0/distill"}, "targets with objective sft would be silently ignored"
    assert errors([{**ex, "distill": {**d, "top": d["top"][:-1]}}]) == {"/examples/0/distill/top"}
    assert errors([{**ex, "distill": {**d, "top": [*d["top"][:2], d["top"][2][:3], *d["top"][3:]]}}]) == {"/examples/0/distill/top/2"}
    assert errors([ex, {**teacher[1], "distill": {**teacher[1]["distill"], "k": 4, "top": [t[:4] for t in teacher[1]["distill"]["top"]]}}]) == {"/examples/1/distill/k"}
    assert errors([{**ex, "distill": {**d, "token_ids": [10**6, *d["token_ids"][1:]]}}]) == {"/examples/0/distill/token_ids/0"}
    assert errors([{**ex, "distill": {**d, "top": [[[10**6, -0.1], *d["top"][0][1:]], *d["top"][1:]]}}]) == {"/examples/0/distill/top/0"}
    assert errors([{**ex, "messages": ex["messages"][:1]}]) == {"/examples/0/messages"}, "the targets are for the assistant's last turn"
    assert errors([{**ex, "distill": {**d, "k": 0}}]) == {"/examples/0/distill/k"}
    assert client.get("/v1/adapters/distill-bad").status_code == 404


def test_the_hash_writes_numbers_as_javascript_does() -> None:
    # the training service hashes JSON.stringify's text; Python's json writes 1e-05 and -3.0
    assert [js_number(x) for x in (1e-5, -3.0, -0.10000000149011612, 1.5e-7, 1e21, -2.5e-6, 0.0)] == ["0.00001", "-3", "-0.10000000149011612", "1.5e-7", "1e+21", "-0.0000025", "0"]
    assert canonical_json([{"b": [1, -0.5], "a": "zé"}]) == '[{"a":"zé","b":[1,-0.5]}]'
