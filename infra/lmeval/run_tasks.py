"""Run exported sys2ft tasks through lm-evaluation-harness's own evaluator and print, as JSON, what
the agreement test compares: each task's metrics and each question's per-choice log-likelihoods.

lm-eval is imported once for several passes (the base model, then the model with each PEFT
adapter): its start-up dominates a small run, and each pass is `lm_eval.simple_evaluate` on an
`HFLM` — the same evaluator and model class as the `lm_eval --model hf` command line. Each request's
continuation tokens as lm-eval splits them (context and continuation encoded together) are checked
against the continuation encoded alone, as the product's worker encodes it.

    python run_tasks.py --model DIR --include DIR --tasks a,b [--peft NAME=DIR --peft-tasks c,d]...
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def run_pass(lm, tasks: list[str], manager) -> dict:
    from lm_eval import simple_evaluate

    out = simple_evaluate(model=lm, tasks=tasks, task_manager=manager, apply_chat_template=True, log_samples=True, batch_size=8)
    tok = lm.tokenizer
    report = {}
    for task in tasks:
        metrics = out["results"][task]
        samples = []
        mismatched = 0
        for s in sorted(out["samples"][task], key=lambda s: s["doc_id"]):
            for ctx, cont in s["arguments"]:
                if lm._encode_pair(ctx, cont)[1] != tok(cont, add_special_tokens=False)["input_ids"]:
                    mismatched += 1
            samples.append({
                "id": s["doc"]["id"],
                "question_id": s["doc"]["question_id"],
                "loglikelihoods": [float(r[0]) for r in s["filtered_resps"]],
                "acc": float(s["acc"]),
                "acc_norm": float(s["acc_norm"]),
            })
        report[task] = {"acc": metrics["acc,none"], "acc_norm": metrics["acc_norm,none"], "token_mismatches": mismatched, "samples": samples}
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="local model directory (lm-eval's pretrained=)")
    p.add_argument("--include", required=True, help="the directory of the exported task YAML files")
    p.add_argument("--tasks", required=True, help="comma-separated tasks for the model itself")
    p.add_argument("--peft", action="append", default=[], help="NAME=DIR: also run --peft-tasks with this adapter")
    p.add_argument("--peft-tasks", default="", help="comma-separated tasks for each adapter")
    args = p.parse_args(argv)

    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=args.include, include_defaults=False)
    result = {"base": run_pass(HFLM(pretrained=args.model, dtype="float32", device="cpu", batch_size=8), args.tasks.split(","), manager)}
    for spec in args.peft:
        name, path = spec.split("=", 1)
        lm = HFLM(pretrained=args.model, peft=path, dtype="float32", device="cpu", batch_size=8)
        result[name] = run_pass(lm, args.peft_tasks.split(","), manager)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
