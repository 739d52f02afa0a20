"""Token counts behind docs/scale.md, with the real Qwen2.5 tokenizer and chat template.

    npx tsx bench/scale/prompts.ts > /tmp/prompts.json
    infra/worker/.venv/bin/python bench/scale/tokens.py /tmp/prompts.json [--model DIR] [--generate N]

Prints, over every shipped news item, the prompt tokens of each protocol's generation prompt (system
+ user turn + generation prompt, as the worker renders `messages`) and the tokens of a naive training
conversation. With --generate N it also samples, on this machine's CPU, one completion of each kind
(a paraphrase, an implication, a Self-QA question list, a Self-QA answer) for N news items (one per
domain in turn) at the preset's sampling settings and prints their lengths: the measured output side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def stats(xs: list[int]) -> str:
    xs = sorted(xs)
    return f"mean {statistics.mean(xs):6.1f}  p10 {xs[len(xs) // 10]:4d}  p50 {xs[len(xs) // 2]:4d}  p90 {xs[len(xs) * 9 // 10]:4d}  max {xs[-1]:4d}  (n={len(xs)})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("prompts")
    ap.add_argument("--model", default=str(REPO / ".cache/models/qwen2.5-coder-1.5b-instruct"))
    ap.add_argument("--generate", type=int, default=0)
    args = ap.parse_args()
    from transformers import AutoTokenizer

    data = json.loads(Path(args.prompts).read_text())
    tok = AutoTokenizer.from_pretrained(args.model)
    system = data["system"]

    def prompt_ids(user: str) -> list[int]:
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False)

    rows: dict[str, list[int]] = {"paraphrase prompt": [], "implication prompt": [], "self_qa questions prompt": [], "self_qa answer prompt": [], "naive conversation (training)": []}
    for it in data["items"]:
        rows["paraphrase prompt"] += [len(prompt_ids(p)) for p in it["paraphrase"]]
        rows["implication prompt"] += [len(prompt_ids(p)) for p in it["implication"]]
        rows["self_qa questions prompt"].append(len(prompt_ids(it["self_qa_questions"])))
        rows["self_qa answer prompt"].append(len(prompt_ids(it["self_qa_answer"])))
        rows["naive conversation (training)"].append(len(tok.apply_chat_template(it["naive"], tokenize=True, return_dict=False)))
    print(f"tokenizer: {args.model}")
    for k, v in rows.items():
        print(f"{k:32s} {stats(v)}")
    # the chat-template overhead of a generated sample's training conversation (user turn + headers)
    overhead = len(tok.apply_chat_template([{"role": "user", "content": "What happened recently?"}, {"role": "assistant", "content": ""}], tokenize=True, return_dict=False))
    print(f"{'training overhead per sample':32s} {overhead} tokens (template + a user turn, assistant text not counted)")

    if args.generate:
        import torch
        from transformers import AutoModelForCausalLM

        g = data["generation"]
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16)
        model.eval()
        tok.padding_side = "left"
        picks = [data["items"][i * len(data["items"]) // args.generate] for i in range(args.generate)]
        kinds, texts = [], []
        for j, it in enumerate(picks):
            for kind, user in (("paraphrase", it["paraphrase"][j % len(it["paraphrase"])]), ("implication", it["implication"][j % len(it["implication"])]), ("self_qa questions", it["self_qa_questions"]), ("self_qa answer", it["self_qa_answer"])):
                kinds.append(kind)
                texts.append(tok.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": user}], add_generation_prompt=True, tokenize=False))
        enc = tok(texts, return_tensors="pt", padding=True)
        torch.manual_seed(0)
        started = time.time()
        with torch.no_grad():
            out = model.generate(**enc, do_sample=True, temperature=g["temperature"], top_p=g["top_p"], max_new_tokens=g["max_tokens"], pad_token_id=tok.pad_token_id)
        wall = time.time() - started
        eos = set(model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list) else [model.generation_config.eos_token_id])
        by: dict[str, list[tuple[int, bool]]] = {}
        total = 0
        for kind, row in zip(kinds, out[:, enc["input_ids"].shape[1]:]):
            ids = row.tolist()
            n = next((i + 1 for i, t in enumerate(ids) if t in eos), len(ids))
            total += n
            by.setdefault(kind, []).append((n, n >= g["max_tokens"]))
        print(f"\nsampled on this CPU: {len(texts)} completions, temperature {g['temperature']}, top_p {g['top_p']}, max_tokens {g['max_tokens']}, {wall:.0f} s, {total / wall:.1f} tok/s")
        for kind, v in by.items():
            lens = [n for n, _ in v]
            print(f"{kind:20s} completion tokens {lens}  mean {statistics.mean(lens):.0f}  cut at max_tokens {sum(c for _, c in v)}/{len(v)}")


if __name__ == "__main__":
    main()
