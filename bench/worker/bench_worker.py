"""Benchmark the sys2ft worker against raw transformers / PEFT, side by side in one run.

Run with the worker's venv:
    infra/worker/.venv/bin/python bench/worker/bench_worker.py                      # tiny model
    infra/worker/.venv/bin/python bench/worker/bench_worker.py --model qwen2.5-coder-0.5b-instruct

Prints a table: generate tok/s batch 1 vs batch 16 (ratio), raw model.generate batch 16 and the
worker/raw ratio (target >= 0.9), score items/s, training tokens/s of the worker vs a raw PEFT
loop (target >= 0.9). The worker is driven through its HTTP app in-process (FastAPI TestClient:
routing, validation and JSON included; no network hop). Rates are best-of-``--repeat``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "worker"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from sys2ft_worker.api import create_app  # noqa: E402
from sys2ft_worker.config import Settings  # noqa: E402
from sys2ft_worker.training import IGNORE_INDEX, collate, encode_example  # noqa: E402
from report_table import print_table  # noqa: E402  (beside this script)

TOPICS = [
    "the history of the printing press", "how rainbows form", "a day in the life of a lighthouse keeper",
    "why the sky is blue", "the rules of chess", "how vaccines work", "a trip to the mountains",
    "the water cycle", "how a compiler works", "the life of honey bees", "the first moon landing",
    "how to bake bread", "the causes of the seasons", "a robot learning to paint", "volcanoes", "the Roman roads",
]  # fmt: skip


def messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a long, detailed essay about {TOPICS[i % len(TOPICS)]}."}]


def train_examples(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        q = f"Tell me about {TOPICS[i % len(TOPICS)]} (note {i})."
        a = (
            f"Here is a short note number {i} about {TOPICS[i % len(TOPICS)]}. It covers the main ideas, "
            "the people involved, the dates that matter and why it is still important today. "
            "In short: it changed how we live, and the details are worth learning carefully."
        )
        out.append({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
    return out


def gen_call(client: TestClient, reqs: list[dict[str, Any]]) -> tuple[float, int]:
    t0 = time.perf_counter()
    r = client.post("/v1/generate", json={"requests": reqs})
    dt = time.perf_counter() - t0
    assert r.status_code == 200, r.text
    return dt, int(r.json()["usage"]["completion_tokens"])


def raw_generate(engine: Any, max_tokens: int, batch: int) -> tuple[float, int]:
    tok, model = engine.tokenizer, engine.model
    texts = [tok.apply_chat_template(messages(i), tokenize=False, add_generation_prompt=True) for i in range(batch)]
    tok.padding_side = "left"
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model.generate(
            **enc, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
            eos_token_id=sorted(engine.eos_ids),
        )  # fmt: skip
        dt = time.perf_counter() - t0
    new = out[:, enc["input_ids"].shape[1] :]
    eos = torch.tensor(sorted(engine.eos_ids))
    count = 0
    for row in new.tolist():
        n = 0
        for t in row:
            n += 1
            if t in eos.tolist():
                break
        count += n
    return dt, count


def raw_peft_train(engine: Any, examples: list[dict[str, Any]], batch_size: int, max_seq_len: int) -> float:
    """A plain PEFT loop (model(..., labels=...).loss.backward(); AdamW) on the same data."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    tok = engine.tokenizer
    model = AutoModelForCausalLM.from_pretrained(engine.model_path, dtype=getattr(torch, engine.dtype))
    model = get_peft_model(
        model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    enc = [encode_example(tok, ex["messages"], "assistant", max_seq_len) for ex in examples]
    tokens = 0
    t0 = time.perf_counter()
    for i in range(0, len(enc), batch_size):
        b = collate(enc[i : i + batch_size], tok.pad_token_id)
        labels = b.labels.clone()
        out = model(input_ids=b.input_ids, attention_mask=b.attention_mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += b.tokens
    dt = time.perf_counter() - t0
    del model
    assert IGNORE_INDEX == -100
    return tokens / dt


def worker_train(client: TestClient, examples: list[dict[str, Any]], batch_size: int, max_seq_len: int, name: str) -> dict[str, Any]:
    body = {
        "adapter_name": name, "examples": examples, "batch_size": batch_size, "max_seq_len": max_seq_len,
        "epochs": 1, "overwrite": True, "lr_scheduler": "constant", "warmup_ratio": 0.0,
    }  # fmt: skip
    r = client.post("/v1/trainings", json=body)
    assert r.status_code in (200, 202), r.text
    tid = r.json()["id"]
    while True:
        st = client.get(f"/v1/trainings/{tid}").json()
        if st["state"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert st["state"] == "succeeded", st
    return st


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny-qwen2")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--singles", type=int, default=4, help="single-request calls for the batch-1 rate")
    ap.add_argument("--train-examples", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    adapters = tempfile.mkdtemp(prefix="bench-adapters-")
    settings = Settings(model=args.model, dtype=args.dtype, adapter_dir=Path(adapters), max_batch=32)
    t0 = time.perf_counter()
    app = create_app(settings)
    rows: list[tuple[str, str]] = []
    with TestClient(app) as client:
        engine = app.state.worker.engine
        load_s = time.perf_counter() - t0
        mt = args.max_tokens
        gen_call(client, [{"messages": messages(0), "max_tokens": 4, "temperature": 0}])  # warm up

        def single_rate() -> float:
            dt = toks = 0
            for i in range(args.singles):
                d, t = gen_call(client, [{"messages": messages(i), "max_tokens": mt, "temperature": 0}])
                dt, toks = dt + d, toks + t
            return toks / dt

        def batch_rate() -> float:
            d, t = gen_call(client, [{"messages": messages(i), "max_tokens": mt, "temperature": 0} for i in range(16)])
            return t / d

        def raw_rate() -> float:
            d, t = raw_generate(engine, mt, 16)
            return t / d

        b1 = max(single_rate() for _ in range(args.repeat))
        b16, raw16 = 0.0, 0.0
        for _ in range(args.repeat):  # interleaved: the machine is noisy
            b16 = max(b16, batch_rate())
            raw16 = max(raw16, raw_rate())

        items = [{"messages": messages(i), "continuations": [" Yes.", " No.", " The essay", " Maybe later."]} for i in range(32)]
        score_rate = 0.0
        for _ in range(args.repeat):
            t = time.perf_counter()
            r = client.post("/v1/score", json={"items": items})
            assert r.status_code == 200
            score_rate = max(score_rate, len(items) / (time.perf_counter() - t))

        ex = train_examples(args.train_examples)
        st = worker_train(client, ex, 4, 256, "bench")
        w_train = st["tokens_per_s"]
        r_train = raw_peft_train(engine, ex, 4, 256)

        rows += [
            ("model", f"{engine.model_id} ({engine.device}, {engine.dtype}, {torch.get_num_threads()} threads)"),
            ("load time", f"{load_s:.1f} s"),
            (f"generate, batch 1 ({mt} new tokens)", f"{b1:.1f} tok/s"),
            (f"generate, batch 16 ({mt} new tokens each)", f"{b16:.1f} tok/s"),
            ("batch 16 / batch 1", f"{b16 / b1:.2f}x (target >= 5x)"),
            ("raw model.generate, batch 16", f"{raw16:.1f} tok/s"),
            ("worker / raw (batch 16)", f"{b16 / raw16:.2f} (target >= 0.9)"),
            ("score (32 items x 4 continuations)", f"{score_rate:.1f} items/s"),
            ("training, worker (LoRA r=16 all-linear, batch 4)", f"{w_train:.1f} tok/s (loss {st['loss_history'][0]['loss']:.3f} -> {st['loss']:.3f})"),
            ("training, raw PEFT loop (same data)", f"{r_train:.1f} tok/s"),
            ("worker / raw (training)", f"{w_train / r_train:.2f} (target >= 0.9)"),
        ]
    print_table(rows)
    return 0 if all(math.isfinite(x) for x in (b1, b16, raw16)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
