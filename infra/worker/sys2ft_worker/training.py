"""LoRA training with PEFT, run in a child process so the API stays responsive and the
memory a training used goes back to the system when it ends.

``run_training`` is a plain function (spec in, events out through a callback, a stop check).
By default it runs in a child process started from a forkserver that has torch, transformers
and PEFT imported already (a training starts in well under a second, with no second model
load): on the CPU the child builds its model around the serving engine's base weights, which
live in shared memory (``training_memory``), so the base weights exist once; with vLLM on a GPU
the child loads them itself into the memory vLLM left free. ``training_mode=thread`` runs the
same function in a thread of the worker (same shared weights; memory is not returned as well).
A training whose estimated memory does not fit answers 422 ``insufficient_memory`` before it
starts; gradient checkpointing is an option (``auto`` turns it on when activations would be large).
"""

from __future__ import annotations

import hashlib
import logging
import math
import multiprocessing as mp
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from . import memory_release
from .adapters import AdapterRegistry
from .canonical import canonical_json
from .cpu_turns import CpuTurns
from .distill import check_targets, collate_targets, distill_k, encode_distill_example, kl_sum, vocab_size
from .lifeline import die_with
from .errors import Conflict, InsufficientMemory, NotFound, UnknownModel, ValidationFailed
from .protocol import (
    TERMINAL_STATES,
    AdapterManifest,
    LossPoint,
    TrainingRequest,
    TrainingState,
    TrainingStatus,
)
from .training_memory import (
    GiB,
    LOSS_CHUNK,
    SharedWeights,
    TrainingEstimate,
    available_bytes,
    estimate_training_bytes,
    lora_trainable_params,
    model_from_shared,
)

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
MAX_LOSS_POINTS = 2000

Event = dict[str, Any]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_training_id() -> str:
    """``trn_`` + a UUIDv7 (sortable by creation time)."""
    ms = time.time_ns() // 1_000_000
    rand = uuid.uuid4().int & ((1 << 74) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & ((1 << 62) - 1))
    return f"trn_{uuid.UUID(int=value).hex}"


def data_sha256(examples: Sequence[dict[str, Any]]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces, UTF-8, numbers as JavaScript writes
    them: ``canonical``) of the examples; an example without distill targets has no ``distill`` key."""
    return hashlib.sha256(canonical_json(list(examples)).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- tokenisation and batching


def encode_example(
    tokenizer: Any, messages: Sequence[dict[str, str]], loss_on: Literal["assistant", "all"], max_seq_len: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels of one conversation rendered with the chat template.

    ``loss_on="assistant"``: only the tokens of assistant turns carry labels — the turn's content
    and its end-of-turn marker, not the ``<|im_start|>assistant`` header; everything else is -100.
    ``loss_on="all"``: every token carries its label.
    """
    msgs = list(messages)
    text = tokenizer.apply_chat_template(msgs, tokenize=False)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    if loss_on == "all":
        labels = list(ids)
    else:
        spans: list[tuple[int, int]] = []
        cursor = 0
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            full_i = tokenizer.apply_chat_template(msgs[: i + 1], tokenize=False)
            gen_i = tokenizer.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True) if i else None
            if gen_i is not None and text.startswith(full_i) and full_i.startswith(gen_i):
                start, end = len(gen_i), len(full_i)
            else:
                # A template that is not prefix-stable: fall back to finding the content.
                pos = text.find(m["content"], cursor)
                if pos < 0:
                    continue
                start, end = pos, pos + len(m["content"])
            spans.append((start, end))
            cursor = end
        labels = [IGNORE_INDEX] * len(ids)
        for k, (a, b) in enumerate(enc["offset_mapping"]):
            if b > a and any(s <= a < e for s, e in spans):
                labels[k] = ids[k]
    return ids[:max_seq_len], labels[:max_seq_len]


@dataclass
class Batch:
    input_ids: Any
    attention_mask: Any
    labels: Any
    tokens: int
    label_tokens: int
    # distill targets: (rows, hidden columns, top ids, teacher log-probs), None without any
    targets: Any = None
    target_tokens: int = 0


# one encoded example: ids, labels (-100: no cross-entropy) and, with distill targets, those
Encoded = tuple[list[int], list[int]] | tuple[list[int], list[int], list[Any]]


def collate(examples: Sequence[Encoded], pad_id: int) -> Batch:
    """Right-pad a micro-batch; padding has attention 0 and label -100."""
    import torch

    width = max(len(e[0]) for e in examples)
    ids_t = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask_t = torch.zeros((len(examples), width), dtype=torch.long)
    lab_t = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for r, (ids, labels, *_) in enumerate(examples):
        ids_t[r, : len(ids)] = torch.tensor(ids)
        mask_t[r, : len(ids)] = 1
        lab_t[r, : len(labels)] = torch.tensor(labels)
    targets = collate_targets([e[2] if len(e) > 2 else [] for e in examples])
    n_targets = 0 if targets is None else len(targets[0])
    return Batch(ids_t, mask_t, lab_t, int(mask_t.sum()), int((lab_t[:, 1:] != IGNORE_INDEX).sum()), targets, n_targets)


def encode(tokenizer: Any, example: dict[str, Any], loss_on: Literal["assistant", "all"], max_seq_len: int) -> Encoded:
    """An example with distill targets reads the teacher's ids and learns them by KL (no labels);
    any other by cross-entropy on its labels."""
    if example.get("distill"):
        ids, targets = encode_distill_example(tokenizer, example["messages"], example["distill"], max_seq_len)
        return ids, [IGNORE_INDEX] * len(ids), targets
    return encode_example(tokenizer, example["messages"], loss_on, max_seq_len)


def learnable(e: Encoded) -> bool:
    return any(lab != IGNORE_INDEX for lab in e[1][1:]) or (len(e) > 2 and bool(e[2]))


# ---------------------------------------------------------------- the training function


@dataclass
class TrainingSpec:
    """Everything a training run needs; picklable, so it can cross into a subprocess."""

    training_id: str
    adapter_name: str
    base_model: str
    base_model_path: str
    device: str
    dtype: str
    threads: int | None
    examples: list[dict[str, Any]]
    loss_on: Literal["assistant", "all"]
    lora: dict[str, Any]
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    epochs: int
    batch_size: int
    gradient_accumulation_steps: int
    max_seq_len: int
    seed: int
    output_dir: str
    gradient_checkpointing: bool = False
    token_budget: int | None = None
    objective: Literal["sft", "distill"] = "sft"

    def hyperparameters(self) -> dict[str, Any]:
        keys = (
            "loss_on", "learning_rate", "lr_scheduler", "warmup_ratio", "epochs", "batch_size",
            "gradient_accumulation_steps", "max_seq_len", "seed", "dtype", "device", "gradient_checkpointing",
            "token_budget", "objective",
        )  # fmt: skip
        d = asdict(self)
        # distill_k: the teacher's top-k the KL was taken over (null: no targets)
        extra = {"distill_k": distill_k(self.examples), "lora": dict(self.lora), "optimizer": "adamw", "max_grad_norm": 1.0}
        return {k: d[k] for k in keys} | extra


class Cancelled(Exception):
    pass


def fit_budget(lengths: Sequence[int], budget: int, seed: int) -> list[int]:
    """Which examples (by index, with repeats) one epoch trains on to spend ``budget`` tokens: whole
    seeded passes over the set, then a seeded part of one, stopping before the example that would pass
    the budget (at least one example). Protocols whose samples differ in number and length are then
    compared at the same training compute, which is what 6·N·D measures."""
    import random

    rng = random.Random(seed)
    picked: list[int] = []
    spent = 0
    while True:
        order = list(range(len(lengths)))
        rng.shuffle(order)
        for i in order:
            if picked and spent + lengths[i] > budget:
                return picked
            picked.append(i)
            spent += lengths[i]


def _scheduler_name(name: str, warmup: int) -> str:
    if name == "constant":
        return "constant_with_warmup" if warmup else "constant"
    return name


def _ce_sum(head: Any, hidden: Any, target: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(head(hidden).float(), target, reduction="sum")


def chunked_loss(loss_sum: Callable[..., Any], head: Any, hidden: Any, *per_row: Any) -> Any:
    """A summed loss over positions (rows of ``hidden``, with their targets ``per_row``), LOSS_CHUNK
    positions at a time, each chunk recomputed in backward: the float32 logits of at most one chunk
    exist at once (for 4 × 512 label tokens and a 152k vocabulary that is 0.3 GiB instead of 3.7 GiB)."""
    from torch.utils.checkpoint import checkpoint

    total = None
    for i in range(0, hidden.shape[0], LOSS_CHUNK):
        part = checkpoint(loss_sum, head, hidden[i : i + LOSS_CHUNK], *(t[i : i + LOSS_CHUNK] for t in per_row), use_reentrant=False)
        total = part if total is None else total + part
    assert total is not None
    return total


def chunked_cross_entropy(head: Any, hidden: Any, target: Any) -> Any:
    """Summed cross-entropy over label positions (``chunked_loss``)."""
    return chunked_loss(_ce_sum, head, hidden, target)


def batch_loss(head: Any, hidden: Any, b: Batch, device: str) -> Any:
    """Summed loss of one micro-batch: cross-entropy on its labels, forward KL on its distill targets
    (``distill.kl_sum``); both are per-token sums, so their total over labels + targets is the mean."""
    target = b.labels.to(device)[:, 1:]
    sel = target != IGNORE_INDEX
    total = chunked_cross_entropy(head, hidden[:, :-1][sel], target[sel]) if b.label_tokens else None
    if b.targets is not None:
        rows, cols, top_ids, teacher = (t.to(device) for t in b.targets)
        kl = chunked_loss(kl_sum, head, hidden[rows, cols], top_ids, teacher)
        total = kl if total is None else total + kl
    assert total is not None
    return total


def run_training(
    spec: TrainingSpec,
    report: Callable[[Event], None],
    should_stop: Callable[[], bool],
    weights: SharedWeights | None = None,
) -> Event:
    """Train a LoRA adapter and save it (PEFT format) into ``spec.output_dir``.

    ``weights``: the serving engine's base weights in shared memory (else they are loaded from
    ``spec.base_model_path``). Reports ``started`` and one ``step`` event per optimizer step;
    returns the ``done`` event. Raises ``Cancelled`` when ``should_stop()`` turns true (checked
    before every micro-batch).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import get_scheduler

    from .engine_hf import load_causal_lm, load_tokenizer

    t0 = time.perf_counter()
    if spec.threads and spec.device == "cpu":
        torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    tokenizer = load_tokenizer(spec.base_model_path)
    encoded = [encode(tokenizer, ex, spec.loss_on, spec.max_seq_len) for ex in spec.examples]
    usable = [e for e in encoded if learnable(e)]
    if not usable:
        raise ValueError(
            f"no example has a token to learn from (loss_on={spec.loss_on!r}, max_seq_len={spec.max_seq_len})"
        )
    skipped = len(encoded) - len(usable)
    budget: dict[str, int] | None = None
    if spec.token_budget is not None:
        picked = fit_budget([len(e[0]) for e in usable], spec.token_budget, spec.seed)
        budget = {"tokens": spec.token_budget, "tokens_used": sum(len(usable[i][0]) for i in picked), "examples": len(picked), "distinct": len(set(picked))}
        usable = [usable[i] for i in picked]
    if should_stop():
        raise Cancelled()
    if weights is not None:
        model = model_from_shared(spec.base_model_path, getattr(torch, spec.dtype), weights)
    else:
        model = load_causal_lm(spec.base_model_path, spec.dtype, spec.device)
    if spec.gradient_checkpointing:
        # non-reentrant: the frozen embeddings give inputs without grad, which reentrant checkpointing mishandles
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = spec.lora
    config = LoraConfig(
        r=int(lora["r"]),
        lora_alpha=int(lora["alpha"]),
        lora_dropout=float(lora["dropout"]),
        target_modules=lora["target_modules"],
        task_type="CAUSAL_LM",
        bias="none",
    )
    model = get_peft_model(model, config)
    model.train()
    trainable, total = model.get_nb_trainable_parameters()
    lm: Any = model.get_base_model()
    decoder: Any = lm.get_decoder()
    head: Any = lm.get_output_embeddings()
    pad_id = int(tokenizer.pad_token_id)

    n = len(usable)
    micro_per_epoch = math.ceil(n / spec.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / spec.gradient_accumulation_steps)
    total_steps = steps_per_epoch * spec.epochs
    warmup = math.ceil(spec.warmup_ratio * total_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=0.0)
    scheduler = get_scheduler(
        _scheduler_name(spec.lr_scheduler, warmup), optimizer, num_warmup_steps=warmup, num_training_steps=total_steps
    )
    report(
        {
            "type": "started",
            "total_steps": total_steps,
            "trainable_params": int(trainable),
            "total_params": int(total),
            "examples": n,
            "skipped_examples": skipped,
            "budget": budget,
            "gradient_checkpointing": spec.gradient_checkpointing,
            "shared_weights": weights is not None,
        }
    )
    every = max(1, math.ceil(total_steps / MAX_LOSS_POINTS))
    order_gen = torch.Generator().manual_seed(spec.seed)
    step, tokens_seen, last_loss = 0, 0, float("nan")
    loop_t0 = time.perf_counter()
    for epoch in range(spec.epochs):
        order = torch.randperm(n, generator=order_gen).tolist()
        micro = [order[i : i + spec.batch_size] for i in range(0, n, spec.batch_size)]
        for s in range(steps_per_epoch):
            window = micro[s * spec.gradient_accumulation_steps : (s + 1) * spec.gradient_accumulation_steps]
            batches = [collate([usable[k] for k in mb], pad_id) for mb in window]
            n_labels = max(1, sum(b.label_tokens + b.target_tokens for b in batches))
            optimizer.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for b in batches:
                if should_stop():
                    raise Cancelled()
                ids, mask = (t.to(spec.device) for t in (b.input_ids, b.attention_mask))
                hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
                loss = batch_loss(head, hidden, b, spec.device)
                (loss / n_labels).backward()
                loss_sum += float(loss.detach())
                tokens_seen += b.tokens
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            lr = float(scheduler.get_last_lr()[0])
            optimizer.step()
            scheduler.step()
            step += 1
            last_loss = loss_sum / n_labels
            report(
                {
                    "type": "step",
                    "step": step,
                    "epoch": epoch + (s + 1) / steps_per_epoch,
                    "loss": last_loss,
                    "learning_rate": lr,
                    "tokens_seen": tokens_seen,
                    "elapsed_s": time.perf_counter() - t0,
                    "train_s": time.perf_counter() - loop_t0,
                    "record": step % every == 0 or step == total_steps,
                }
            )
    if should_stop():
        raise Cancelled()
    model.save_pretrained(spec.output_dir, safe_serialization=True)
    return {
        "type": "done",
        "tokens_trained": tokens_seen,
        "final_loss": last_loss,
        "elapsed_s": time.perf_counter() - t0,
        "trainable_params": int(trainable),
        "total_params": int(total),
        "examples": n,
    }


def _subprocess_main(spec: TrainingSpec, events: Any, stop: Any, weights: SharedWeights | None, server_pid: int) -> None:
    """Entry point of a training subprocess: events go back through a queue."""
    # a training must not outlive its worker (killed with -9, its job goes to another worker: an
    # orphan would train the same job a second time); its parent is the forkserver, which exits with it
    die_with(server_pid)
    memory_release.prefer_mmap()  # each large tensor its own mapping: the peak is what the tensors need
    try:
        done = run_training(spec, events.put, stop.is_set, weights)
        events.put(done)
    except Cancelled:
        events.put({"type": "cancelled"})
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        events.put({"type": "error", "error": f"{type(exc).__name__}: {exc}"})


_PRELOAD = ["torch", "transformers", "peft", "sys2ft_worker.training", "sys2ft_worker.engine_hf"]
CHECKPOINT_ABOVE_BYTES = 1 * GiB  # ``auto`` checkpoints when activations would take more than this


def training_context() -> Any:
    """A forkserver with the training's imports done once: each training forks from a clean,
    single-threaded process (never from the serving one, whose threads make fork unsafe) and
    starts in well under a second instead of re-importing torch. Spawn where there is no forkserver."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


@dataclass
class TrainingMemory:
    """What the pre-flight check and the training process need to know of the serving model."""

    model: Any  # the serving engine's base model (shapes for the estimate)
    weights: SharedWeights | None  # its weights in shared memory (CPU), else None
    dtype_bytes: int
    limit_bytes: int | None = None  # SYS2FT_WORKER_MEMORY_LIMIT_GB, else what the system has free

    def estimate(self, batch_size: int, max_seq_len: int, r: int, target_modules: Any, ckpt: bool) -> TrainingEstimate:
        return estimate_training_bytes(
            self.model.config,
            batch_size=batch_size,
            max_seq_len=max_seq_len,
            dtype_bytes=self.dtype_bytes,
            lora_params=lora_trainable_params(self.model, r, target_modules),
            checkpointing=ckpt,
        )

    def available(self) -> int:
        free = available_bytes()
        return free if self.limit_bytes is None else min(free, self.limit_bytes)


# ---------------------------------------------------------------- jobs and the manager


@dataclass
class TrainingJob:
    id: str
    adapter_name: str
    base_model: str
    spec: TrainingSpec
    overwrite: bool
    memory_estimate_bytes: int | None = None
    state: TrainingState = "queued"
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    loss: float | None = None
    loss_history: list[LossPoint] = field(default_factory=list)
    learning_rate: float = 0.0
    tokens_seen: int = 0
    tokens_per_s: float = 0.0
    elapsed_s: float = 0.0
    trainable_params: int = 0
    total_params: int = 0
    error: str | None = None
    adapter: AdapterManifest | None = None
    created_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    finished_at: str | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _t_start: float = 0.0
    lease_s: float | None = None
    last_polled: float = field(default_factory=time.monotonic)

    def polled(self) -> None:
        self.last_polled = time.monotonic()

    def should_stop(self) -> bool:
        """Cancelled, or fenced: its lease ran out because nobody asked about it (monotonic time
        counts while the process is stopped, so a worker resumed after SIGSTOP stops at once)."""
        if self.cancel_event.is_set():
            return True
        if self.lease_s is not None and time.monotonic() - self.last_polled > self.lease_s:
            with self.lock:
                self.error = f"lease expired: no status request for {self.lease_s:g} s (the job was given to another worker)"
            log.warning("training %s fenced: %s", self.id, self.error)
            self.cancel_event.set()
            return True
        return False

    def status(self) -> TrainingStatus:
        with self.lock:
            elapsed = self.elapsed_s
            if self.state == "running" and self._t_start:
                elapsed = time.perf_counter() - self._t_start
            return TrainingStatus(
                id=self.id,
                adapter_name=self.adapter_name,
                base_model=self.base_model,
                state=self.state,
                step=self.step,
                total_steps=self.total_steps,
                epoch=self.epoch,
                loss=self.loss,
                loss_history=list(self.loss_history),
                learning_rate=self.learning_rate,
                tokens_seen=self.tokens_seen,
                tokens_per_s=self.tokens_per_s,
                elapsed_s=round(elapsed, 3),
                trainable_params=self.trainable_params,
                total_params=self.total_params,
                gradient_checkpointing=self.spec.gradient_checkpointing,
                memory_estimate_bytes=self.memory_estimate_bytes,
                error=self.error,
                adapter=self.adapter,
                created_at=self.created_at,
                started_at=self.started_at,
                finished_at=self.finished_at,
            )

    def apply(self, ev: Event) -> None:
        with self.lock:
            if ev["type"] == "started":
                self.total_steps = ev["total_steps"]
                self.trainable_params = ev["trainable_params"]
                self.total_params = ev["total_params"]
            elif ev["type"] == "step":
                self.step = ev["step"]
                self.epoch = round(ev["epoch"], 6)
                self.loss = ev["loss"]
                self.learning_rate = ev["learning_rate"]
                self.tokens_seen = ev["tokens_seen"]
                self.tokens_per_s = round(ev["tokens_seen"] / max(ev["train_s"], 1e-9), 3)
                if ev.get("record", True):
                    self.loss_history.append(
                        LossPoint(
                            step=ev["step"],
                            loss=ev["loss"],
                            learning_rate=ev["learning_rate"],
                            tokens_seen=ev["tokens_seen"],
                            elapsed_s=round(ev["elapsed_s"], 3),
                        )
                    )


class TrainingManager:
    """Holds the trainings of this process (in memory) and runs one at a time."""

    def __init__(
        self,
        registry: AdapterRegistry,
        *,
        model_id: str,
        model_path: str,
        device: str,
        dtype: str,
        threads: int | None,
        mode: Literal["thread", "process"],
        on_adapter_written: Callable[[str], None] = lambda name: None,
        memory: "TrainingMemory | None" = None,
        cpu_turns: "CpuTurns | None" = None,
    ) -> None:
        self.registry = registry
        # given (a CPU): a training waits, queued and cancellable, for the inference in progress, and
        # holds the cores until it ends
        self.cpu_turns = cpu_turns
        self.model_id = model_id
        self.model_path = model_path
        self.device = device
        self.dtype = dtype
        self.threads = threads
        self.mode = mode
        self.on_adapter_written = on_adapter_written
        self.memory = memory
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ---- API

    def submit(self, req: TrainingRequest) -> tuple[TrainingStatus, bool]:
        """Start a training; returns (status, created). An existing ``training_id`` is returned as is."""
        if req.base_model is not None and req.base_model not in (self.model_id, self.model_path):
            raise UnknownModel(f"base_model {req.base_model!r} is not the loaded model {self.model_id!r}")
        with self._lock:
            if req.training_id is not None and req.training_id in self._jobs:
                return self._jobs[req.training_id].status(), False
            active = self._active()
            if active is not None:
                raise Conflict(f"training {active.id} is {active.state}; one training at a time per worker")
            if self.registry.exists(req.adapter_name) and not req.overwrite:
                raise Conflict(f"adapter {req.adapter_name!r} already exists (set overwrite: true to replace it)")
            self._check_targets(req)
            checkpointing, estimate = self._plan_memory(req)
            tid = req.training_id or new_training_id()
            spec = TrainingSpec(
                training_id=tid,
                adapter_name=req.adapter_name,
                base_model=self.model_id,
                base_model_path=self.model_path,
                device=self.device,
                dtype=self.dtype,
                threads=self.threads,
                # no `distill: null` on plain examples: their hash stays what it was before targets existed
                examples=[ex.model_dump(exclude_none=True) for ex in req.examples],
                loss_on=req.loss_on,
                lora=req.lora.model_dump(),
                learning_rate=req.learning_rate,
                lr_scheduler=req.lr_scheduler,
                warmup_ratio=req.warmup_ratio,
                epochs=req.epochs,
                batch_size=req.batch_size,
                gradient_accumulation_steps=req.gradient_accumulation_steps,
                max_seq_len=req.max_seq_len,
                seed=req.seed,
                output_dir="",
                gradient_checkpointing=checkpointing,
                token_budget=req.token_budget,
                objective=req.objective,
            )
            job = TrainingJob(
                id=tid,
                adapter_name=req.adapter_name,
                base_model=self.model_id,
                spec=spec,
                overwrite=req.overwrite,
                memory_estimate_bytes=estimate.total_bytes if estimate else None,
                lease_s=req.lease_s,
            )
            self._jobs[tid] = job
            self.registry.mark_busy(req.adapter_name)
            t = threading.Thread(target=self._run, args=(job,), name=f"training-{tid}", daemon=True)
            self._threads.append(t)
            t.start()
            return job.status(), True

    def _check_targets(self, req: TrainingRequest) -> None:
        """Distill targets that fit the objective, the model's vocabulary and themselves (400 naming each field)."""
        if req.objective == "sft" and all(ex.distill is None for ex in req.examples):
            return
        errors = check_targets(req, vocab_size(self.model_path))
        if errors:
            raise ValidationFailed("; ".join(f"{e['path']}: {e['message']}" for e in errors[:5]), errors=errors)

    def _plan_memory(self, req: TrainingRequest) -> tuple[bool, TrainingEstimate | None]:
        """Gradient checkpointing (the request's choice, or ``auto``) and the pre-flight check."""
        mem = self.memory
        if mem is None:  # no model to measure (vLLM on a GPU): the request decides, nothing checked
            return bool(req.gradient_checkpointing), None

        def est(ckpt: bool) -> TrainingEstimate:
            return mem.estimate(req.batch_size, req.max_seq_len, req.lora.r, req.lora.target_modules, ckpt)

        if req.gradient_checkpointing is None:
            checkpointing = est(False).parts["activations"] > CHECKPOINT_ABOVE_BYTES
        else:
            checkpointing = req.gradient_checkpointing
        estimate = est(checkpointing)
        free = mem.available()
        if estimate.total_bytes > free:
            hint = "" if checkpointing else "; gradient_checkpointing: true would need " + f"{est(True).total_bytes / GiB:.1f} GiB"
            raise InsufficientMemory(
                f"this training would need about {estimate.total_bytes / GiB:.1f} GiB beside the loaded model "
                f"({estimate.describe()}), and {free / GiB:.1f} GiB are available: lower batch_size or "
                f"max_seq_len{hint}",
                errors=[
                    {"path": "/batch_size", "message": f"{req.batch_size} x max_seq_len {req.max_seq_len} does not fit"},
                    {"path": "/max_seq_len", "message": f"{req.max_seq_len} x batch_size {req.batch_size} does not fit"},
                ],
            )
        return checkpointing, estimate

    def get(self, tid: str) -> TrainingStatus:
        job = self._job(tid)
        job.polled()
        return job.status()

    def list(self) -> list[TrainingStatus]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [j.status() for j in sorted(jobs, key=lambda j: j.created_at)]

    def cancel(self, tid: str) -> TrainingStatus:
        job = self._job(tid)
        with job.lock:
            if job.state not in TERMINAL_STATES:
                job.cancel_event.set()
        return job.status()

    def current(self) -> TrainingJob | None:
        with self._lock:
            active = self._active()
            if active is not None:
                return active
            return max(self._jobs.values(), key=lambda j: j.created_at, default=None)

    def wait_idle(self, timeout: float | None = None) -> None:
        for t in list(self._threads):
            t.join(timeout)

    def shutdown(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for j in jobs:
            j.cancel_event.set()
        self.wait_idle(30)

    # ---- internals

    def _job(self, tid: str) -> TrainingJob:
        with self._lock:
            job = self._jobs.get(tid)
        if job is None:
            raise NotFound(f"training {tid!r} does not exist")
        return job

    def _active(self) -> TrainingJob | None:
        for j in self._jobs.values():
            if j.state in ("queued", "running"):
                return j
        return None

    def _finish(self, job: TrainingJob, state: TrainingState, error: str | None = None) -> None:
        with job.lock:
            job.state = state
            job.error = error
            job.finished_at = utc_now()
            job.elapsed_s = round(time.perf_counter() - job._t_start, 3) if job._t_start else 0.0

    def _take_cpu(self, job: TrainingJob) -> bool:
        """Waits for the CPU (when taking turns) until it is free or the job is cancelled; True when held."""
        if self.cpu_turns is None:
            return False
        waited = time.perf_counter()
        held = self.cpu_turns.acquire_training(job.should_stop)
        if held and time.perf_counter() - waited > 1:
            log.info("training %s waited %.1f s for inference to end (cpu_turns)", job.id, time.perf_counter() - waited)
        return held

    def _run(self, job: TrainingJob) -> None:
        staging: Path | None = None
        holds_cpu = self._take_cpu(job)
        try:
            if job.should_stop():
                self._finish(job, "cancelled", job.error)
                return
            with job.lock:
                job.state = "running"
                job.started_at = utc_now()
                job._t_start = time.perf_counter()
            staging = self.registry.staging_dir(job.adapter_name, job.id)
            job.spec.output_dir = str(staging)
            log.info("training %s started (adapter %s, %d examples, %s)", job.id, job.adapter_name, len(job.spec.examples), self.mode)
            weights = self.memory.weights if self.memory is not None else None
            if self.mode == "process":
                done = self._run_subprocess(job, weights)
            else:
                done = run_training(job.spec, job.apply, job.should_stop, weights)
            if job.cancel_event.is_set():
                raise Cancelled()
            manifest = {
                "name": job.adapter_name,
                "base_model": self.model_id,
                "base_model_path": self.model_path,
                "created_at": utc_now(),
                "lora": dict(job.spec.lora),
                "hyperparameters": job.spec.hyperparameters(),
                "data_sha256": data_sha256(job.spec.examples),
                "examples": len(job.spec.examples),
                "examples_used": done["examples"],
                "tokens_trained": done["tokens_trained"],
                "final_loss": done["final_loss"] if math.isfinite(done["final_loss"]) else None,
                "trainable_params": done["trainable_params"],
                "total_params": done["total_params"],
                "elapsed_s": round(done["elapsed_s"], 3),
                "training_id": job.id,
            }
            self.on_adapter_written(job.adapter_name)
            written = self.registry.publish(staging, job.adapter_name, manifest, overwrite=job.overwrite)
            staging = None
            self.on_adapter_written(job.adapter_name)
            with job.lock:
                job.adapter = written
            self._finish(job, "succeeded")
            log.info("training %s succeeded: loss %.4f, %d tokens", job.id, done["final_loss"], done["tokens_trained"])
        except Cancelled:
            self._finish(job, "cancelled", job.error)
            log.info("training %s cancelled at step %d", job.id, job.step)
        except Exception as exc:  # noqa: BLE001 - any failure ends the job, never the worker
            log.exception("training %s failed", job.id)
            self._finish(job, "failed", f"{type(exc).__name__}: {exc}")
        finally:
            if holds_cpu:
                self.cpu_turns.release_training()  # type: ignore[union-attr]
            if staging is not None:
                import shutil

                shutil.rmtree(staging, ignore_errors=True)
            self.registry.clear_busy(job.adapter_name)

    def _run_subprocess(self, job: TrainingJob, weights: SharedWeights | None) -> Event:
        ctx = training_context()
        events = ctx.Queue()
        stop = ctx.Event()
        proc = ctx.Process(
            target=_subprocess_main,
            args=(job.spec, events, stop, weights, os.getpid()),
            name=f"training-{job.id}",
            daemon=True,
        )
        proc.start()
        try:
            while True:
                if job.should_stop():
                    stop.set()
                try:
                    ev = events.get(timeout=0.2)
                except queue.Empty:
                    if not proc.is_alive():
                        raise RuntimeError(f"training subprocess exited with code {proc.exitcode}") from None
                    continue
                if ev["type"] in ("started", "step"):
                    job.apply(ev)
                elif ev["type"] == "done":
                    return ev
                elif ev["type"] == "cancelled":
                    raise Cancelled()
                else:
                    raise RuntimeError(ev.get("error", "training subprocess failed"))
        finally:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
