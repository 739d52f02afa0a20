"""What every inference engine offers, and the pieces the engines share (prompt rendering,
request grouping, stop strings)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import Cancelled, InputTooLong
from .protocol import GenerateRequestItem, GenerateResult, Message, ScoreItem, ScoreResult, ScoreStrategy


@dataclass
class EngineStats:
    """Counters the tests and the benchmark read (forward batches prove batching)."""

    generate_calls: int = 0
    prefill_batches: int = 0
    decode_steps: int = 0
    score_calls: int = 0
    score_batches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, value in deltas.items():
                setattr(self, key, getattr(self, key) + value)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in vars(self).items() if not k.startswith("_")}


StopCheck = Callable[[], bool]


def stop_if_asked(should_stop: StopCheck | None) -> None:
    """Raises ``Cancelled`` when the caller asked to stop (checked between decoding steps)."""
    if should_stop is not None and should_stop():
        raise Cancelled("the request was closed by the caller; generation stopped")


class Engine(Protocol):
    """An inference engine over one loaded base model plus LoRA adapters from the registry."""

    name: str
    device: str
    dtype: str
    model_id: str
    model_path: str
    stats: EngineStats

    def generate(self, requests: Sequence[GenerateRequestItem], should_stop: StopCheck | None = None) -> list[GenerateResult]:
        """``should_stop`` is polled between decoding steps; when it answers True the call raises
        ``Cancelled`` (the HTTP caller went away), so a cancelled run stops the worker within a step."""
        ...

    def score(self, items: Sequence[ScoreItem], strategy: ScoreStrategy = "shared_prefix") -> list[ScoreResult]: ...

    def training_memory(self, limit_gb: float | None) -> Any:
        """The ``TrainingMemory`` a training of this engine's model uses (shared base weights,
        shapes for the pre-flight estimate), or None when the engine cannot say."""
        ...

    def forget_adapter(self, name: str) -> None:
        """Drop a cached adapter (deleted or about to be rewritten on disk)."""
        ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- shared helpers


def messages_as_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def render_context_ids(tokenizer: Any, messages: Sequence[Message] | None, prompt: str | None) -> list[int]:
    """Token ids of a context: chat messages through the chat template with the generation
    prompt, or a raw prompt (with the tokenizer's own special tokens such as BOS, if any)."""
    if messages is not None:
        text = tokenizer.apply_chat_template(
            messages_as_dicts(messages), tokenize=False, add_generation_prompt=True
        )
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert prompt is not None
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def render_score_context(tokenizer: Any, item: ScoreItem) -> list[int]:
    """Token ids every continuation of a score item follows: the context, then its ``prefix``
    (tokenized with the context, so "…assistant\nThe answer is" splits as the model would read it)."""
    if not item.prefix:
        return render_context_ids(tokenizer, item.messages, item.prompt)
    if item.messages is not None:
        text = tokenizer.apply_chat_template(
            messages_as_dicts(item.messages), tokenize=False, add_generation_prompt=True
        )
        return list(tokenizer(text + item.prefix, add_special_tokens=False)["input_ids"])
    assert item.prompt is not None
    return list(tokenizer(item.prompt + item.prefix, add_special_tokens=True)["input_ids"])


def check_length(n_tokens: int, limit: int, where: str) -> None:
    if n_tokens > limit:
        raise InputTooLong(
            f"{where} has {n_tokens} tokens, more than SYS2FT_WORKER_MAX_INPUT_TOKENS={limit}",
            errors=[{"path": "/" + where.replace(".", "/"), "message": f"{n_tokens} tokens > {limit}"}],
        )


@dataclass(frozen=True)
class SamplingKey:
    """Requests sharing adapter and sampling parameters are generated together."""

    adapter: str | None
    temperature: float
    top_p: float
    max_tokens: int
    stop: tuple[str, ...]
    seed: int | None
    top_logprobs: int = 0

    @classmethod
    def of(cls, r: GenerateRequestItem) -> "SamplingKey":
        return cls(r.adapter, r.temperature, r.top_p, r.max_tokens, tuple(r.stop or ()), r.seed, r.top_logprobs)


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string; return (text, whether one was found)."""
    best = -1
    for s in stops:
        pos = text.find(s)
        if pos != -1 and (best == -1 or pos < best):
            best = pos
    return (text, False) if best == -1 else (text[:best], True)
