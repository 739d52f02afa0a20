"""The transformers engine: batched generation and scoring on CPU or one GPU, LoRA adapters
through PEFT (loaded lazily from the registry, switched per request group).

Batching: the requests of a call are grouped by adapter; each request is expanded into its
``n`` sequences, the sequences are sorted by (max_tokens, prompt length), left-padded and decoded
together in chunks of ``max_batch`` sequences with one KV cache per chunk. Sampling parameters
(temperature, top_p, max_tokens, stop) apply per row, so requests with different parameters
still share forward passes. Each sequence samples from its own ``torch.Generator`` seeded from
the request's ``seed`` (else a random seed) and the sample index, so the same batch with the
same seeds gives identical text. A request's text can still depend on what else is in its chunk
(padding changes floating-point rounding, notably in bfloat16), so determinism is promised for
identical batches on the same engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .adapters import AdapterRegistry
from .config import Settings, cpu_supports_bf16
from .cpu_turns import CpuTurns
from .engine import (
    EngineStats,
    SamplingKey,
    StopCheck,
    check_length,
    cut_at_stop,
    render_context_ids,
    render_score_context,
    stop_if_asked,
)
from .errors import EngineError, UnknownAdapter
from .models import ResolvedModel
from .training import TrainingMemory
from .training_memory import GiB, share_base_weights
from .protocol import Completion, GenerateRequestItem, GenerateResult, Score, ScoreItem, ScoreResult, ScoreStrategy, TokenLogprobs

log = logging.getLogger(__name__)

_DTYPES: dict[str, torch.dtype] = {
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float32": torch.float32,
}
_LM_HEAD_CHUNK = 512  # positions per output-layer pass when scoring
_VOCAB_CHUNK = 16384  # vocabulary rows per float32 slice (512 × 16384 × 4 B = 32 MiB of logits)
_SCORE_TOKEN_BUDGET = 8192  # padded context tokens per shared-prefix group (bounds activations)


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise EngineError("SYS2FT_WORKER_DEVICE=cuda but torch sees no CUDA device")
    return name


def resolve_dtype(name: str, device: str) -> str:
    if name != "auto":
        return name
    if device == "cuda":
        return "bfloat16"
    return "bfloat16" if cpu_supports_bf16() else "float32"


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(path: str, dtype: str, device: str) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=_DTYPES[dtype])
    return model.to(device).eval()  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Row:
    """One sequence to generate: sample ``sample`` of request ``request``."""

    request: int
    sample: int
    ids: list[int]
    key: SamplingKey
    seed: int


def _derive_seed(seed: int, sample: int) -> int:
    """Independent, reproducible seeds for the n samples of one request."""
    digest = hashlib.blake2b(f"{seed}:{sample}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def _cache_kwarg(model: Any) -> str:
    """transformers 5.24 renamed the forward kwarg ``past_key_values`` to ``cache``."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _validate_adapter_files(path: Any) -> None:
    """Parse the adapter's config and weights before touching the model."""
    from pathlib import Path

    from peft import PeftConfig
    from safetensors import safe_open

    PeftConfig.from_pretrained(str(path))
    weights = Path(path) / "adapter_model.safetensors"
    if weights.is_file():
        with safe_open(str(weights), framework="pt") as f:
            list(f.keys())
    elif not (Path(path) / "adapter_model.bin").is_file():
        raise FileNotFoundError("no adapter_model.safetensors")


@dataclass(frozen=True)
class _ScoreJob:
    """One score item, tokenized: its shared context (+ prefix) and its continuations."""

    index: int
    adapter: str | None
    ctx: list[int]
    conts: list[list[int]]


def _groups(jobs: list[_ScoreJob], max_items: int, token_budget: int) -> Iterator[list[_ScoreJob]]:
    """Consecutive groups (jobs sorted by length, longest first) of at most ``max_items`` items and
    ``token_budget`` padded context tokens."""
    group: list[_ScoreJob] = []
    for j in jobs:
        width = len(group[0].ctx) if group else len(j.ctx)
        if group and (len(group) >= max_items or width * (len(group) + 1) > token_budget):
            yield group
            group = []
        group.append(j)
    if group:
        yield group


class HFEngine:
    name = "hf"

    def __init__(self, model: ResolvedModel, settings: Settings, registry: AdapterRegistry) -> None:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.settings = settings
        self.registry = registry
        self.device = resolve_device(settings.device)
        self.dtype = resolve_dtype(settings.dtype, self.device)
        if self.device == "cpu":
            torch.set_num_threads(settings.resolved_threads())
        self.model_id = model.id
        self.model_path = str(model.path)
        self.max_batch = settings.max_batch
        self.max_input_tokens = settings.max_input_tokens
        self.stats = EngineStats()
        t0 = time.perf_counter()
        self.tokenizer = load_tokenizer(self.model_path)
        self.model = load_causal_lm(self.model_path, self.dtype, self.device)
        # On the CPU the base weights move into shared memory once, so that training processes
        # use them in place (training_memory): the model exists once however many trainings run.
        self._shared = share_base_weights(self.model) if self.device == "cpu" else None
        self._memory: TrainingMemory | None = None
        self.load_s = time.perf_counter() - t0
        self.pad_id: int = int(self.tokenizer.pad_token_id)
        self.eos_ids: frozenset[int] = self._eos_ids()
        self._peft: Any = None  # PeftModel wrapping self.model once an adapter is loaded
        self._adapters: dict[str, int] = {}  # loaded adapter -> registry fingerprint
        self._cache_kw = _cache_kwarg(self.model)
        self._lock = threading.RLock()
        self._turns = CpuTurns()
        log.info(
            "loaded %s from %s on %s/%s in %.1f s", self.model_id, self.model_path, self.device, self.dtype, self.load_s
        )

    @property
    def cpu_turns(self) -> CpuTurns | None:
        """On a CPU: the turns inference and training take (see cpu_turns); None on a GPU."""
        return self._turns if self.device == "cpu" else None

    def _compute(self) -> contextlib.AbstractContextManager[None]:
        """Entered by every scoring and generation call: waits while a training has the CPU."""
        return self._turns.inference() if self.device == "cpu" else contextlib.nullcontext()

    def _eos_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        gc_eos = getattr(self.model.generation_config, "eos_token_id", None)
        for v in gc_eos if isinstance(gc_eos, list) else [gc_eos]:
            if v is not None:
                ids.add(int(v))
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        return frozenset(ids)

    # ------------------------------------------------------------ adapters

    def _ensure_adapter(self, name: str) -> None:
        path = self.registry.path(name)
        fp = self.registry.fingerprint(name)
        if self._adapters.get(name) == fp:
            return
        if name in self._adapters:
            self._drop_adapter(name)
        try:
            _validate_adapter_files(path)
        except Exception as exc:
            raise EngineError(f"cannot load adapter {name!r} from {path}: {type(exc).__name__}: {exc}") from exc
        try:
            if self._peft is None:
                from peft import PeftModel

                self._peft = PeftModel.from_pretrained(self.model, str(path), adapter_name=name, is_trainable=False)
            else:
                self._peft.load_adapter(str(path), adapter_name=name, is_trainable=False)
            self._peft.eval()
        except Exception as exc:
            self._recover_after_failed_load(name)
            raise EngineError(f"cannot load adapter {name!r} from {path}: {type(exc).__name__}: {exc}") from exc
        self._adapters[name] = fp
        log.info("loaded adapter %s from %s", name, path)

    def _recover_after_failed_load(self, name: str) -> None:
        """A failed PEFT load may have injected half an adapter: undo it (or reload the base)."""
        try:
            if self._peft is not None and name in getattr(self._peft, "peft_config", {}):
                if self._adapters:
                    self._peft.set_adapter(next(iter(self._adapters)), inference_mode=True)
                self._peft.delete_adapter(name)
                return
            if self._peft is None and hasattr(self.model, "peft_config"):
                raise RuntimeError("base model was modified")
        except Exception:  # noqa: BLE001 - last resort: a clean copy of the base weights
            log.warning("reloading the base model after a failed adapter load")
            self.model = load_causal_lm(self.model_path, self.dtype, self.device)
            self._shared = share_base_weights(self.model) if self.device == "cpu" else None
            if self._memory is not None:
                self._memory.model, self._memory.weights = self.model, self._shared
            self._peft = None
            self._adapters.clear()

    def _drop_adapter(self, name: str) -> None:
        if name not in self._adapters or self._peft is None:
            self._adapters.pop(name, None)
            return
        del self._adapters[name]
        if not self._adapters:
            # Last adapter: take the LoRA layers out again and go back to the plain model.
            self.model = self._peft.unload()
            if hasattr(self.model, "peft_config"):
                del self.model.peft_config
            self._peft = None
        else:
            if name in self._peft.active_adapters:
                self._peft.set_adapter(next(iter(self._adapters)), inference_mode=True)
            self._peft.delete_adapter(name)

    def training_memory(self, limit_gb: float | None) -> TrainingMemory | None:
        if self.device != "cpu":
            return None  # the training process loads its own copy on the GPU
        limit = int(limit_gb * GiB) if limit_gb else None
        self._memory = TrainingMemory(self.model, self._shared, _DTYPES[self.dtype].itemsize, limit)
        return self._memory

    def forget_adapter(self, name: str) -> None:
        with self._lock, torch.inference_mode():
            self._drop_adapter(name)

    @contextlib.contextmanager
    def _adapter(self, name: str | None) -> Iterator[None]:
        if name is None:
            if self._peft is None:
                yield
            else:
                with self._peft.disable_adapter():
                    yield
            return
        self._ensure_adapter(name)
        self._peft.set_adapter(name, inference_mode=True)
        yield

    def _check_adapters(self, names: set[str | None]) -> None:
        for name in sorted(n for n in names if n is not None):
            self.registry.path(name)  # raises UnknownAdapter (404)

    # ------------------------------------------------------------ generate

    def generate(self, requests: Sequence[GenerateRequestItem], should_stop: StopCheck | None = None) -> list[GenerateResult]:
        self._check_adapters({r.adapter for r in requests})
        prompt_ids: list[list[int]] = []
        for i, r in enumerate(requests):
            ids = render_context_ids(self.tokenizer, r.messages, r.prompt)
            check_length(len(ids), self.max_input_tokens, f"requests.{i}")
            prompt_ids.append(ids)
        outputs: list[list[Completion | None]] = [[None] * r.n for r in requests]
        by_adapter: dict[str | None, list[_Row]] = {}
        for i, r in enumerate(requests):
            base_seed = r.seed if r.seed is not None else secrets.randbits(62)
            for j in range(r.n):
                row = _Row(i, j, prompt_ids[i], SamplingKey.of(r), _derive_seed(base_seed, j))
                by_adapter.setdefault(r.adapter, []).append(row)
        with self._compute(), self._lock, torch.inference_mode():
            self.stats.add(generate_calls=1)
            for adapter, rows in by_adapter.items():
                # Similar budgets and lengths share a chunk (less idle padding).
                rows.sort(key=lambda w: (w.key.max_tokens, len(w.ids)), reverse=True)
                with self._adapter(adapter):
                    for start in range(0, len(rows), self.max_batch):
                        chunk = rows[start : start + self.max_batch]
                        for w, completion in zip(chunk, self._decode_chunk(chunk, should_stop)):
                            outputs[w.request][w.sample] = completion
        results = []
        for i, comps in enumerate(outputs):
            assert all(c is not None for c in comps)
            results.append(GenerateResult(index=i, prompt_tokens=len(prompt_ids[i]), completions=comps))  # type: ignore[arg-type]
        return results

    def _sample(self, logits: torch.Tensor, rows: list["_Row"], gens: list[torch.Generator | None]) -> list[int]:
        """One token per row: greedy rows take the argmax, the others sample with their own
        temperature, top-p and generator (so a row's draws do not depend on its neighbours)."""
        greedy = logits.argmax(dim=-1).tolist()
        sampled = [k for k, w in enumerate(rows) if w.key.temperature > 0.0]
        if not sampled:
            return greedy
        idx = torch.tensor(sampled, device=logits.device)
        temps = torch.tensor([rows[k].key.temperature for k in sampled], device=logits.device)
        probs = torch.softmax(logits[idx].float() / temps[:, None], dim=-1)
        top_p = torch.tensor([rows[k].key.top_p for k in sampled], device=logits.device)
        if bool((top_p < 1.0).any()):
            sorted_p, order = probs.sort(dim=-1, descending=True)
            drop = (sorted_p.cumsum(dim=-1) - sorted_p) > top_p[:, None]  # always keeps the top token
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
        out = list(greedy)
        for pos, k in enumerate(sampled):
            out[k] = int(torch.multinomial(probs[pos], 1, generator=gens[k]).item())
        return out

    def _decode_chunk(self, rows: list["_Row"], should_stop: StopCheck | None = None) -> list[Completion]:
        stop_if_asked(should_stop)
        b = len(rows)
        width = max(len(w.ids) for w in rows)
        ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((b, width), dtype=torch.long)
        for r, w in enumerate(rows):
            ids[r, width - len(w.ids) :] = torch.tensor(w.ids, dtype=torch.long)
            mask[r, width - len(w.ids) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        gens: list[torch.Generator | None] = [
            torch.Generator(device=self.device).manual_seed(w.seed) if w.key.temperature > 0 else None for w in rows
        ]
        cache = self._new_cache()
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_kw: cache},
        )
        self.stats.add(prefill_batches=1)
        logits = out.logits[:, -1, :]
        next_pos = positions[:, -1:] + 1
        generated: list[list[int]] = [[] for _ in range(b)]
        # context distillation: per generated token its log-probability and the row's top-k (fp32)
        wants = [r for r, w in enumerate(rows) if w.key.top_logprobs > 0]
        traces: list[list[TokenLogprobs]] = [[] for _ in range(b)]
        finished = [False] * b
        reasons = ["length"] * b
        tails = [max((len(s) for s in w.key.stop), default=0) + 3 for w in rows]
        while True:
            stop_if_asked(should_stop)
            tokens = self._sample(logits, rows, gens)
            if wants:
                self._trace(logits, rows, wants, tokens, finished, traces)
            for r, tok in enumerate(tokens):
                if finished[r]:
                    continue
                generated[r].append(tok)
                w = rows[r]
                if tok in self.eos_ids:
                    finished[r], reasons[r] = True, "stop"
                elif w.key.stop and self._hits_stop(generated[r], w.key.stop, tails[r]):
                    finished[r], reasons[r] = True, "stop"
                elif len(generated[r]) >= w.key.max_tokens:
                    finished[r] = True
            if all(finished):
                break
            feed = torch.tensor(
                [self.pad_id if finished[r] else t for r, t in enumerate(tokens)], dtype=torch.long, device=self.device
            )
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=self.device)], dim=1)
            out = self.model(
                input_ids=feed[:, None],
                attention_mask=mask,
                position_ids=next_pos,
                use_cache=True,
                **{self._cache_kw: cache},
            )
            self.stats.add(decode_steps=1)
            logits = out.logits[:, -1, :]
            next_pos = next_pos + 1
        completions = []
        for r in range(b):
            toks = generated[r]
            body = toks[:-1] if toks and toks[-1] in self.eos_ids else toks
            text = self.tokenizer.decode(body, skip_special_tokens=True)
            if rows[r].key.stop:
                text, hit = cut_at_stop(text, rows[r].key.stop)
                if hit:
                    reasons[r] = "stop"
            completions.append(
                Completion(
                    text=text,
                    finish_reason=reasons[r],  # type: ignore[arg-type]
                    completion_tokens=len(toks),
                    tokens=traces[r] if rows[r].key.top_logprobs > 0 else None,
                )
            )
        return completions

    @staticmethod
    def _trace(
        logits: torch.Tensor, rows: list["_Row"], wants: list[int], tokens: list[int], finished: list[bool], traces: list[list[TokenLogprobs]]
    ) -> None:
        live = [r for r in wants if not finished[r]]
        if not live:
            return
        lp = torch.log_softmax(logits[live].float(), dim=-1)
        k = max(rows[r].key.top_logprobs for r in live)
        top_lp, top_id = lp.topk(k, dim=-1)
        for pos, r in enumerate(live):
            kr = rows[r].key.top_logprobs
            top = list(zip(top_id[pos, :kr].tolist(), top_lp[pos, :kr].tolist()))
            traces[r].append(TokenLogprobs(id=tokens[r], logprob=float(lp[pos, tokens[r]]), top=top))

    def _hits_stop(self, generated: list[int], stops: tuple[str, ...], tail: int) -> bool:
        text = self.tokenizer.decode(generated[-tail:], skip_special_tokens=True)
        return any(s in text for s in stops)

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        try:
            return DynamicCache(config=self.model.config)
        except TypeError:  # older transformers
            return DynamicCache()

    # ------------------------------------------------------------ score

    def score(self, items: Sequence[ScoreItem], strategy: ScoreStrategy = "shared_prefix") -> list[ScoreResult]:
        self._check_adapters({it.adapter for it in items})
        prepared: list[_ScoreJob] = []
        for i, it in enumerate(items):
            ctx = render_score_context(self.tokenizer, it)
            conts = []
            for j, cont in enumerate(it.continuations):
                cont_ids = list(self.tokenizer(cont, add_special_tokens=False)["input_ids"]) if cont else []
                check_length(len(ctx) + len(cont_ids), self.max_input_tokens, f"items.{i}.continuations.{j}")
                conts.append(cont_ids)
            prepared.append(_ScoreJob(i, it.adapter, ctx, conts))
        scores: list[list[Score]] = [[] for _ in items]
        by_adapter: dict[str | None, list[_ScoreJob]] = {}
        for job in prepared:
            by_adapter.setdefault(job.adapter, []).append(job)
        with self._compute(), self._lock, torch.inference_mode():
            self.stats.add(score_calls=1)
            for adapter, jobs in by_adapter.items():
                with self._adapter(adapter):
                    if strategy == "per_sequence":
                        self._score_per_sequence(jobs, scores)
                    else:
                        self._score_shared_prefix(jobs, scores)
        return [ScoreResult(index=i, scores=s) for i, s in enumerate(scores)]

    def _score_shared_prefix(self, jobs: list["_ScoreJob"], scores: list[list[Score]]) -> None:
        """Each item's context is computed once (left-padded with the other items of its group);
        its continuations then run as one batch over a copy of that KV cache. A continuation's
        first token is scored from the context's last position, so single-token continuations
        (option letters) need no second forward at all."""
        if any(not j.ctx for j in jobs):  # an empty context has no position to predict from
            self._score_per_sequence([j for j in jobs if not j.ctx], scores)
            jobs = [j for j in jobs if j.ctx]
        jobs = sorted(jobs, key=lambda j: len(j.ctx), reverse=True)
        for group in _groups(jobs, self.max_batch, _SCORE_TOKEN_BUDGET):
            self._score_group(group, scores)

    def _score_group(self, group: list["_ScoreJob"], scores: list[list[Score]]) -> None:
        b = len(group)
        width = max(len(j.ctx) for j in group)
        ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((b, width), dtype=torch.long)
        for r, j in enumerate(group):
            ids[r, width - len(j.ctx) :] = torch.tensor(j.ctx, dtype=torch.long)  # left padding
            mask[r, width - len(j.ctx) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        decoder = self.model.get_decoder()
        cache = self._new_cache()
        out = decoder(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **{self._cache_kw: cache})
        self.stats.add(score_batches=1)
        last = out.last_hidden_state[:, -1, :]  # the context's last position predicts every first token

        # continuation rows: (group row, job, continuation index, ids); tokens after the first are fed
        rows = [(r, j, c, cont) for r, j in enumerate(group) for c, cont in enumerate(j.conts) if cont]
        fed = [cont[:-1] for _, _, _, cont in rows]
        feed_width = max((len(f) for f in fed), default=0)
        hidden_cont = None
        if feed_width > 0:
            owners = torch.tensor([r for r, _, _, _ in rows], device=self.device)
            cache.batch_select_indices(owners)  # one copy of its item's cache per continuation row
            n = len(rows)
            cont_ids = torch.full((n, feed_width), self.pad_id, dtype=torch.long)
            cont_mask = torch.zeros((n, feed_width), dtype=torch.long)
            for k, f in enumerate(fed):
                if f:
                    cont_ids[k, : len(f)] = torch.tensor(f, dtype=torch.long)  # right padding
                    cont_mask[k, : len(f)] = 1
            cont_ids, cont_mask = cont_ids.to(self.device), cont_mask.to(self.device)
            full_mask = torch.cat([mask[owners], cont_mask], dim=1)
            start = mask[owners].sum(-1, keepdim=True)
            cont_pos = start + torch.arange(feed_width, device=self.device)[None, :]
            hidden_cont = decoder(
                input_ids=cont_ids, attention_mask=full_mask, position_ids=cont_pos, use_cache=True, **{self._cache_kw: cache}
            ).last_hidden_state
            self.stats.add(score_batches=1)

        # every scored token: the hidden state that predicts it and its id
        picks: list[Any] = []
        targets: list[int] = []
        owner_of: list[int] = []
        for k, (r, _, _, cont) in enumerate(rows):
            for t, tok in enumerate(cont):
                picks.append(last[r] if t == 0 else hidden_cont[k, t - 1])  # type: ignore[index]
                targets.append(tok)
                owner_of.append(k)
        sums = [0.0] * len(rows)
        if targets:
            lp = self._fp32_logprobs(torch.stack(picks), torch.tensor(targets, device=self.device))
            acc = torch.zeros(len(rows), dtype=torch.float64, device=self.device)
            acc.index_add_(0, torch.tensor(owner_of, device=self.device), lp.double())
            sums = acc.tolist()
        by_key = {(j.index, c): sums[k] for k, (_, j, c, _) in enumerate(rows)}
        for j in group:
            scores[j.index] = [Score(logprob=float(by_key.get((j.index, c), 0.0)), tokens=len(cont)) for c, cont in enumerate(j.conts)]

    def _score_per_sequence(self, jobs: list["_ScoreJob"], scores: list[list[Score]]) -> None:
        """The first path: every continuation is its own sequence that re-reads the whole context
        (kept for the benchmark and the parity test)."""
        seqs = [(j, c, cont) for j in jobs for c, cont in enumerate(j.conts)]
        seqs.sort(key=lambda s: -(len(s[0].ctx) + len(s[2])))
        values: dict[tuple[int, int], float] = {}
        for start in range(0, len(seqs), self.max_batch):
            chunk = seqs[start : start + self.max_batch]
            for (j, c, _), lp in zip(chunk, self._score_chunk([(j.ctx, cont) for j, _, cont in chunk])):
                values[(j.index, c)] = lp
        for j in jobs:
            scores[j.index] = [Score(logprob=values[(j.index, c)], tokens=len(cont)) for c, cont in enumerate(j.conts)]

    def _score_chunk(self, pairs: list[tuple[list[int], list[int]]]) -> list[float]:
        b = len(pairs)
        width = max(len(c) + len(x) for c, x in pairs)
        ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((b, width), dtype=torch.long)
        rows: list[int] = []
        cols: list[int] = []
        targets: list[int] = []
        for row, (ctx, cont) in enumerate(pairs):
            full = ctx + cont
            ids[row, : len(full)] = torch.tensor(full, dtype=torch.long)  # right padding
            mask[row, : len(full)] = 1
            for t in range(len(ctx), len(full)):
                if t == 0:
                    continue  # a first token has no prediction; happens only with an empty context
                rows.append(row)
                cols.append(t - 1)
                targets.append(full[t])
        if not targets:
            return [0.0] * b
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        hidden = self.model.get_decoder()(input_ids=ids, attention_mask=mask, position_ids=positions).last_hidden_state
        self.stats.add(score_batches=1)
        r = torch.tensor(rows, device=self.device)
        c = torch.tensor(cols, device=self.device)
        lp = self._fp32_logprobs(hidden[r, c], torch.tensor(targets, device=self.device))
        sums = torch.zeros(b, dtype=torch.float64, device=self.device).index_add_(0, r, lp.double())
        return [float(x) for x in sums.tolist()]

    def _fp32_logprobs(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log p(target) from float32 logits: the output layer is applied in float32 over slices of
        the vocabulary with a running log-sum-exp, so no (positions × vocabulary) matrix and no
        float32 copy of the whole output layer is ever held (bfloat16 logits tie near-equal
        options: two letters at -1.64 and -1.64)."""
        head = self.model.get_output_embeddings()
        weight = head.weight
        bias = getattr(head, "bias", None)
        h = hidden.float()
        n = len(targets)
        lse = torch.full((n,), float("-inf"), dtype=torch.float32, device=hidden.device)
        out = torch.zeros(n, dtype=torch.float32, device=hidden.device)
        vocab = weight.shape[0]
        for v0 in range(0, vocab, _VOCAB_CHUNK):
            w = weight[v0 : v0 + _VOCAB_CHUNK].float()  # each slice converted once per call
            b = bias[v0 : v0 + _VOCAB_CHUNK].float() if bias is not None else None
            for p0 in range(0, n, _LM_HEAD_CHUNK):
                sl = slice(p0, p0 + _LM_HEAD_CHUNK)
                logits = h[sl] @ w.T
                if b is not None:
                    logits += b
                lse[sl] = torch.logaddexp(lse[sl], torch.logsumexp(logits, dim=-1))
                tg = targets[sl]
                inside = (tg >= v0) & (tg < v0 + w.shape[0])
                if bool(inside.any()):
                    idx = inside.nonzero().squeeze(-1)
                    out[p0 + idx] = logits[idx, tg[idx] - v0]
        out -= lse
        return out

    def close(self) -> None:
        with self._lock:
            self._peft = None
            self._adapters.clear()


__all__ = ["HFEngine", "resolve_device", "resolve_dtype", "load_tokenizer", "load_causal_lm", "UnknownAdapter"]
