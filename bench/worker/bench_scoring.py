"""Scoring speed: shared-prefix vs per-sequence scoring of the same questions, in one run.

    infra/worker/.venv/bin/python bench/worker/bench_scoring.py --model qwen2.5-coder-0.5b-instruct

Questions come from the shipped New News dataset, asked as the evaluation service asks them in
`icl` mode (the news in context, lettered options, `The answer is` prefix): one score item per
question with 8 continuations (4 letters, 4 option texts). Both strategies score the same items
through the worker's HTTP app (in-process); the table prints questions/s of each, the ratio
(target >= 3x), the largest per-option log-probability difference between the two (target <= 1e-2)
and how many picks of each rule agree. In bfloat16 two computations of the same sums differ by
rounding (padding and batch shapes change the order of operations), so the bench also scores the
items once in float32 (shared prefix; equal to per_sequence within 1e-4 in float32, see
tests/test_score_shared_prefix.py) and prints how far each bfloat16 path is from that reference.
"""

from __future__ import annotations

import argparse
import json
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

from fastapi.testclient import TestClient  # noqa: E402

from sys2ft_worker.api import create_app  # noqa: E402
from sys2ft_worker.config import Settings  # noqa: E402
from report_table import print_table  # noqa: E402  (beside this script)

LETTERS = "ABCD"


def questions(n: int, with_news: bool) -> list[dict[str, Any]]:
    """n questions spread over the five domains, as score items."""
    per_domain: list[list[dict[str, Any]]] = []
    for path in sorted((ROOT / "packages" / "dataset" / "data" / "news").glob("*.jsonl")):
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            for q in item["questions"]:
                rows.append((item, q))
        per_domain.append(rows)
    picked = [per_domain[k % len(per_domain)][k // len(per_domain)] for k in range(n)]
    items = []
    for item, q in picked:
        options = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(q["options"]))
        news = f"Here is a recent news item:\n\n{item['title']} ({item['date']})\n{item['text']}\n\n" if with_news else ""
        content = f"{news}Question: {q['question']}\n{options}\n\nAnswer with the correct option."
        items.append({
            "messages": [{"role": "user", "content": content}],
            "prefix": "The answer is",
            "continuations": [f" {c}" for c in LETTERS[: len(q["options"])]] + [f" {o}" for o in q["options"]],
        })  # fmt: skip
    return items


def run(client: TestClient, items: list[dict[str, Any]], strategy: str, per_call: int) -> tuple[float, list[list[float]]]:
    out: list[list[float]] = []
    t0 = time.perf_counter()
    for s in range(0, len(items), per_call):
        r = client.post("/v1/score", json={"items": items[s : s + per_call], "strategy": strategy})
        assert r.status_code == 200, r.text
        for res in sorted(r.json()["results"], key=lambda x: x["index"]):
            out.append([sc["logprob"] for sc in res["scores"]])
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny-qwen2")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--questions", type=int, default=24)
    ap.add_argument("--per-call", type=int, default=8, help="questions per /v1/score call (the service's questions_per_call)")
    ap.add_argument("--no-news", action="store_true", help="base mode (no news in context)")
    ap.add_argument("--no-fp32-reference", action="store_true", help="skip the float32 reference pass")
    args = ap.parse_args()

    settings = Settings(model=args.model, dtype=args.dtype, adapter_dir=Path(tempfile.mkdtemp(prefix="bench-")), max_batch=32)
    app = create_app(settings)
    items = questions(args.questions, not args.no_news)
    with TestClient(app) as client:
        engine = app.state.worker.engine
        run(client, items[:2], "shared_prefix", args.per_call)  # warm up
        t_old, old = run(client, items, "per_sequence", args.per_call)
        t_new, new = run(client, items, "shared_prefix", args.per_call)
        tok = engine.tokenizer
        ctx_tokens = sum(
            len(tok(tok.apply_chat_template(it["messages"], tokenize=False, add_generation_prompt=True))["input_ids"]) for it in items
        )
        model_line = f"{engine.model_id} ({engine.device}, {engine.dtype})"
    ref: list[list[float]] | None = None
    if not args.no_fp32_reference and engine.dtype != "float32":
        del app, engine
        ref_settings = settings.model_copy(update={"dtype": "float32"})
        ref_app = create_app(ref_settings)
        with TestClient(ref_app) as client:
            _, ref = run(client, items, "shared_prefix", args.per_call)

    def maxdiff(a: list[list[float]], b: list[list[float]]) -> float:
        return max(abs(x - y) for o, n in zip(a, b) for x, y in zip(o, n))

    diff = maxdiff(old, new)
    agree_letter = sum(max(range(4), key=lambda k: o[k]) == max(range(4), key=lambda k: n[k]) for o, n in zip(old, new))
    agree_sum = sum(max(range(4), key=lambda k: o[4 + k]) == max(range(4), key=lambda k: n[4 + k]) for o, n in zip(old, new))
    q = len(items)
    rows = [
        ("model", model_line),
        ("questions (mode)", f"{q} ({'base' if args.no_news else 'icl'}; {ctx_tokens / q:.0f} context tokens each; 8 continuations)"),
        ("per_sequence (8 sequences per question)", f"{q / t_old:.3f} questions/s ({t_old / q:.2f} s/question)"),
        ("shared_prefix (context once)", f"{q / t_new:.3f} questions/s ({t_new / q:.2f} s/question)"),
        ("shared_prefix / per_sequence", f"{t_old / t_new:.2f}x (target >= 3x)"),
        ("max |logprob difference|", f"{diff:.2e} (target <= 1e-2)"),
        ("same letter pick / same option pick", f"{agree_letter}/{q} / {agree_sum}/{q}"),
    ]
    if ref is not None:
        rows += [
            ("max |per_sequence - float32 reference|", f"{maxdiff(old, ref):.2e}"),
            ("max |shared_prefix - float32 reference|", f"{maxdiff(new, ref):.2e}"),
        ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
