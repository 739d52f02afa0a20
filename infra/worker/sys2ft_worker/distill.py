"""Context distillation (``objective: distill``): the student, without the news, is trained toward the
token distribution of the teacher, the same model with the news in context.

An example's ``distill`` target holds what the teacher generated for the last (assistant) turn: its
token ids and, per token, its k most likely tokens with their log-probabilities (``/v1/generate``
with ``top_logprobs: k``). The student reads the conversation before that turn (chat template and
generation prompt, no news) followed by exactly the teacher's ids — not re-tokenised text, so every
target lines up with the position it was computed at — and at each of those positions the loss is
the forward KL from the teacher's top-k to the student:

    KL_t = sum_j p_t(j) * (log p_t(j) - log q_t(j)),   p_t = softmax over the k teacher log-probs

with ``log q_t`` the student's float32 log-softmax over the whole vocabulary, summed over positions
and averaged per target token (with the cross-entropy tokens of examples without targets, if any).

Truncated mass: the worker lists only the teacher's top k, so the mass outside them (its tail) is
unknown per token; the k probabilities are renormalised to sum to 1. The target is then a proper
distribution — KL_t >= 0, and 0 exactly when the student gives the k tokens the teacher's
proportions and nothing else — and the gradient pushes down every token outside the teacher's top k
through the student's normaliser. The cost is a slightly sharper target than the teacher (its tail
is taught as zero); a confident teacher's top 8 hold nearly all of its mass, and a lumped "rest"
bucket would reward any spread of the student's tail, including onto tokens the teacher ranked low.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .protocol import TrainingRequest

MAX_ERRORS = 20  # a request with 200k bad examples names the first ones, and says how many more


@lru_cache(maxsize=8)
def vocab_size(model_path: str) -> int:
    """Rows of the model's output layer (``config.vocab_size``): the ids a log-softmax can index."""
    config = json.loads((Path(model_path) / "config.json").read_text())
    return int(config.get("vocab_size") or config["text_config"]["vocab_size"])


def check_targets(req: TrainingRequest, vocab: int) -> list[dict[str, str]]:
    """Every problem with the request's distillation targets, as field errors (empty: none)."""
    errors: list[dict[str, str]] = []
    k0: int | None = None
    with_targets = 0
    for i, ex in enumerate(req.examples):
        d = ex.distill
        if d is None:
            continue
        with_targets += 1
        at = f"/examples/{i}/distill"
        if req.objective != "distill":
            errors.append({"path": at, "message": f"targets are trained only with objective distill (this request's objective is {req.objective})"})
            continue
        if ex.messages[-1].role != "assistant":
            errors.append({"path": f"/examples/{i}/messages", "message": "with distill targets the last message must be the assistant's (the turn the targets are for)"})
        if len(d.top) != len(d.token_ids):
            errors.append({"path": f"{at}/top", "message": f"has {len(d.top)} lists for {len(d.token_ids)} token_ids (one per token)"})
        k0 = d.k if k0 is None else k0
        if d.k != k0:
            errors.append({"path": f"{at}/k", "message": f"is {d.k}, another example's is {k0}: one k per training"})
        short = next((j for j, top in enumerate(d.top) if len(top) != d.k), None)
        if short is not None:
            errors.append({"path": f"{at}/top/{short}", "message": f"has {len(d.top[short])} entries, k is {d.k}"})
        bad = next((j for j, t in enumerate(d.token_ids) if t >= vocab), None)
        if bad is not None:
            errors.append({"path": f"{at}/token_ids/{bad}", "message": f"id {d.token_ids[bad]} is outside the model's vocabulary (0..{vocab - 1})"})
        bad_top = next((j for j, top in enumerate(d.top) if any(t >= vocab for t, _ in top)), None)
        if bad_top is not None:
            errors.append({"path": f"{at}/top/{bad_top}", "message": f"lists an id outside the model's vocabulary (0..{vocab - 1})"})
    if req.objective == "distill" and with_targets == 0:
        errors.append({"path": "/objective", "message": "distill needs at least one example with distill targets"})
    if len(errors) > MAX_ERRORS:
        errors = errors[:MAX_ERRORS] + [{"path": "/examples", "message": f"and {len(errors) - MAX_ERRORS} more problems with distill targets"}]
    return errors


def distill_k(examples: Sequence[dict[str, Any]]) -> int | None:
    """The k of a training's targets (one per training, checked), or None without targets."""
    return next((ex["distill"]["k"] for ex in examples if ex.get("distill")), None)


Targets = list[tuple[int, list[int], list[float]]]


def encode_distill_example(
    tokenizer: Any, messages: Sequence[dict[str, str]], target: dict[str, Any], max_seq_len: int
) -> tuple[list[int], Targets]:
    """Ids and targets of one example with distill targets.

    ids: the conversation before its last turn (chat template + generation prompt), then the
    teacher's token ids, cut at ``max_seq_len``. targets: per
    teacher token that fits, (its position, the teacher's top ids, their log-probabilities); the
    token at position p is predicted from the hidden state at p - 1.
    """
    prompt = tokenizer.apply_chat_template(list(messages[:-1]), tokenize=False, add_generation_prompt=True)
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    ids = (prompt_ids + list(target["token_ids"]))[:max_seq_len]
    start = len(prompt_ids)
    targets = [
        (start + j, [int(t) for t, _ in top], [float(lp) for _, lp in top])
        for j, top in enumerate(target["top"])
        if 0 < start + j < len(ids)
    ]
    return ids, targets


def collate_targets(per_row: Sequence[Targets]) -> tuple[Any, Any, Any, Any] | None:
    """A micro-batch's targets as tensors: (rows, hidden columns, top ids [m, k], log-probs [m, k])."""
    import torch

    flat = [(r, pos - 1, ids, lps) for r, targets in enumerate(per_row) for pos, ids, lps in targets]
    if not flat:
        return None
    rows, cols, ids, lps = zip(*flat)
    return (
        torch.tensor(rows, dtype=torch.long),
        torch.tensor(cols, dtype=torch.long),
        torch.tensor(ids, dtype=torch.long),
        torch.tensor(lps, dtype=torch.float32),
    )


def kl_sum(head: Any, hidden: Any, top_ids: Any, teacher_logprobs: Any) -> Any:
    """Summed forward KL from the teacher's renormalised top-k to the student over these positions
    (float32 log-softmax over the whole vocabulary)."""
    import torch

    student = torch.log_softmax(head(hidden).float(), dim=-1).gather(-1, top_ids)
    teacher = torch.log_softmax(teacher_logprobs, dim=-1)  # renormalised over its k tokens
    return (teacher.exp() * (teacher - student)).sum()
