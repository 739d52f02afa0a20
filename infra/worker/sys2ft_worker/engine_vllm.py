"""The vLLM engine (GPU only). ``vllm`` is imported lazily, so this module imports anywhere;
constructing ``VLLMEngine`` without vLLM installed raises ``EngineUnavailable`` with a clear message.

- one ``LLM(model, enable_lora=True, max_lora_rank=…, dtype=…, gpu_memory_utilization=…)``;
- one ``LoRARequest(name, int_id, path)`` per adapter (a new int id whenever the adapter is
  rewritten on disk, so vLLM never serves stale LoRA weights from its cache);
- generate: token prompts + one ``SamplingParams(n, temperature, top_p, max_tokens, stop, seed)``
  per request, all requests of the call in one ``LLM.generate`` (vLLM batches continuously);
- score: ``SamplingParams(max_tokens=1, prompt_logprobs=0)`` over context+continuation token ids;
  the continuation tokens' prompt log-probabilities are summed.

Training runs PEFT in a spawned subprocess (``training_mode=process``): vLLM keeps
``SYS2FT_WORKER_GPU_MEMORY_UTILIZATION`` (default 0.5) of the GPU and the training process uses
the rest, so both live on one GPU without vLLM's pre-allocation starving the optimizer.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import threading
from collections.abc import Sequence
from typing import Any, Literal

from .adapters import AdapterRegistry
from .config import Settings
from .engine import EngineStats, check_length, cut_at_stop, render_context_ids, render_score_context
from .errors import EngineUnavailable
from .models import ResolvedModel
from .protocol import Completion, GenerateRequestItem, GenerateResult, Score, ScoreItem, ScoreResult, ScoreStrategy

log = logging.getLogger(__name__)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def _import_vllm() -> Any:
    if not vllm_available():
        raise EngineUnavailable(
            "SYS2FT_WORKER_ENGINE=vllm needs the 'vllm' package (GPU only; pip install -r "
            "requirements-gpu.txt, or use the worker's Docker image). Use SYS2FT_WORKER_ENGINE=hf on a CPU."
        )
    import vllm

    return vllm


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
        self.device = "cuda"
        self.dtype: str = "bfloat16" if settings.dtype == "auto" else settings.dtype
        self.max_input_tokens = settings.max_input_tokens
        self.stats = EngineStats()
        kwargs: dict[str, Any] = {
            "model": self.model_path,
            "enable_lora": True,
            "max_lora_rank": settings.max_lora_rank,
            "max_loras": 4,
            "dtype": self.dtype,
            "gpu_memory_utilization": settings.gpu_memory_utilization,
            "max_num_seqs": max(settings.max_batch, 1),
            "seed": 0,
        }
        if settings.max_model_len:
            kwargs["max_model_len"] = settings.max_model_len
        self.llm = vllm.LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self._lora_ids = itertools.count(1)
        self._loras: dict[str, tuple[int, Any]] = {}  # name -> (fingerprint, LoRARequest)
        self._lock = threading.RLock()

    def _lora(self, name: str | None) -> Any:
        if name is None:
            return None
        path = self.registry.path(name)
        fp = self.registry.fingerprint(name)
        with self._lock:
            known = self._loras.get(name)
            if known is None or known[0] != fp:
                known = (fp, self._LoRARequest(name, next(self._lora_ids), str(path)))
                self._loras[name] = known
            return known[1]

    def training_memory(self, limit_gb: float | None) -> Any:
        return None  # vLLM holds its own copy of the weights; the training process loads one beside it

    def forget_adapter(self, name: str) -> None:
        with self._lock:
            known = self._loras.pop(name, None)
        if known is not None:
            try:
                self.llm.llm_engine.remove_lora(known[1].lora_int_id)
            except Exception:  # noqa: BLE001 - not loaded yet, or an engine without remove_lora
                pass

    def generate(self, requests: Sequence[GenerateRequestItem]) -> list[GenerateResult]:
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
                )
            )
            loras.append(self._lora(r.adapter))
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=loras)
        self.stats.add(generate_calls=1, prefill_batches=1)
        results = []
        for i, out in enumerate(outputs):
            comps = []
            for o in out.outputs:
                text, hit = cut_at_stop(o.text, requests[i].stop or [])
                reason: Literal["stop", "length"] = "stop" if hit or o.finish_reason == "stop" else "length"
                comps.append(Completion(text=text, finish_reason=reason, completion_tokens=len(o.token_ids)))
            results.append(GenerateResult(index=i, prompt_tokens=lengths[i], completions=comps))
        return results

    def score(self, items: Sequence[ScoreItem], strategy: ScoreStrategy = "shared_prefix") -> list[ScoreResult]:
        prompts, loras, spans = [], [], []
        for i, it in enumerate(items):
            ctx = render_score_context(self.tokenizer, it)
            lora = self._lora(it.adapter)
            for j, cont in enumerate(it.continuations):
                cont_ids = list(self.tokenizer(cont, add_special_tokens=False)["input_ids"]) if cont else []
                check_length(len(ctx) + len(cont_ids), self.max_input_tokens, f"items.{i}.continuations.{j}")
                prompts.append({"prompt_token_ids": ctx + cont_ids})
                loras.append(lora)
                spans.append((i, j, len(ctx), len(cont_ids)))
        params = self._SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = self.llm.generate(prompts, params, use_tqdm=False, lora_request=loras)
        self.stats.add(score_calls=1, score_batches=1)
        scores: list[list[Score | None]] = [[None] * len(it.continuations) for it in items]
        for out, (i, j, n_ctx, n_cont) in zip(outputs, spans):
            ids = out.prompt_token_ids
            total = 0.0
            for t in range(max(n_ctx, 1), n_ctx + n_cont):
                entry = out.prompt_logprobs[t]
                total += float(entry[ids[t]].logprob)
            scores[i][j] = Score(logprob=total, tokens=n_cont)
        return [ScoreResult(index=i, scores=s) for i, s in enumerate(scores)]  # type: ignore[arg-type]

    def close(self) -> None:
        try:
            del self.llm
        except AttributeError:
            pass
