"""Worker memory: idle, while scoring, peak during a LoRA training and after it, in one run.

    infra/worker/.venv/bin/python bench/worker/bench_memory.py --model qwen2.5-coder-0.5b-instruct
    infra/worker/.venv/bin/python bench/worker/bench_memory.py --model qwen2.5-coder-1.5b-instruct

Starts the worker as its own process (`python -m sys2ft_worker`, as the stack runs it) and samples
its whole process tree (the server, the training forkserver, the training child) every 0.1 s.
Memory is reported as PSS summed over the tree — each shared page counted once, so the base
weights that the server and the training child share count once — and, beside it, RSS summed
(which counts them in every process that touches them). Targets (../shared/targets.md): 0.5B idle
<= 2.5 GiB and training peak <= 4 GiB at batch 4 x 512; 1.5B training peak <= 9 GiB; memory
returned after a job.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from report_table import print_table  # noqa: E402  (beside this script)
import psutil

ROOT = Path(__file__).resolve().parents[2]
GiB = 1024**3
PY = ROOT / "infra" / "worker" / ".venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_memory(root: psutil.Process) -> tuple[int, int]:
    """(PSS summed, RSS summed) over the process and its descendants."""
    pss = rss = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pss += getattr(info, "pss", info.rss)
        rss += info.rss
    return pss, rss


class Sampler:
    """Peak PSS/RSS of the tree since the last ``reset``."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.peak = (0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pss, rss = tree_memory(self.root)
            self.peak = (max(self.peak[0], pss), max(self.peak[1], rss))
            time.sleep(0.1)

    def reset(self) -> None:
        self.peak = tree_memory(self.root)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def training_examples(n: int, words: int) -> list[dict[str, Any]]:
    """Conversations long enough to fill max_seq_len (the answer carries the loss)."""
    filler = " ".join(f"fact{i % 97} follows from fact{(i * 7) % 89}." for i in range(words))
    return [
        {"messages": [{"role": "user", "content": f"Tell me note {k}."}, {"role": "assistant", "content": f"Note {k}: {filler}"}]}
        for k in range(n)
    ]


def gib(x: int) -> str:
    return f"{x / GiB:.2f} GiB"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny-qwen2")
    ap.add_argument("--examples", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-seq-len", type=int, default=512)
    ap.add_argument("--gradient-checkpointing", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--steps-timeout", type=float, default=1800)
    args = ap.parse_args()

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MALLOC_ARENA_MAX": "2", "SYS2FT_WORKER_ADAPTER_DIR": tempfile.mkdtemp(prefix="bench-mem-")}
    cmd = [str(PY), "-m", "sys2ft_worker", "--model", args.model, "--port", str(port), "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, cwd=ROOT / "infra" / "worker", env=env)
    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, str]] = []
    try:
        http = httpx.Client(base_url=base, timeout=600)
        t0 = time.perf_counter()
        while True:
            try:
                if http.get("/healthz").status_code == 200 and http.get("/v1/info").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"worker exited with {proc.returncode}")
            time.sleep(0.5)
        load_s = time.perf_counter() - t0
        root = psutil.Process(proc.pid)
        sampler = Sampler(root)
        time.sleep(2)
        idle = tree_memory(root)

        items = [{"messages": [{"role": "user", "content": f"Question {i}: " + "context words " * 120}], "prefix": "The answer is",
                  "continuations": [" A", " B", " C", " D", " a longer option text", " another one"]} for i in range(16)]  # fmt: skip
        sampler.reset()
        assert http.post("/v1/score", json={"items": items}).status_code == 200
        score_peak = sampler.peak
        after_score = tree_memory(root)

        body: dict[str, Any] = {
            "adapter_name": "bench-mem", "examples": training_examples(args.examples, 400), "batch_size": args.batch_size,
            "max_seq_len": args.max_seq_len, "epochs": 1, "overwrite": True,
        }  # fmt: skip
        if args.gradient_checkpointing != "auto":
            body["gradient_checkpointing"] = args.gradient_checkpointing == "on"
        sampler.reset()
        r = http.post("/v1/trainings", json=body)
        if r.status_code != 202:
            rows.append(("training", f"refused: {r.status_code} {r.json().get('detail')}"))
            st = None
        else:
            tid = r.json()["id"]
            deadline = time.monotonic() + args.steps_timeout
            shown = -1
            while True:
                st = http.get(f"/v1/trainings/{tid}").json()
                if st["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
                    break
                if st["step"] != shown:
                    shown = st["step"]
                    print(f"  training step {st['step']}/{st['total_steps']}, {st['tokens_per_s']:.0f} tok/s, "
                          f"peak so far {gib(sampler.peak[0])} PSS", file=sys.stderr, flush=True)
                time.sleep(0.5)
        train_peak = sampler.peak
        time.sleep(3)  # the training child has exited; its memory is back with the system
        after_train = tree_memory(root)
        sampler.stop()

        info = http.get("/v1/info").json()
        rows += [
            ("model", f"{info.get('model')} ({info.get('device')}, {info.get('dtype')}); loaded in {load_s:.0f} s"),
            ("idle after load (PSS / RSS)", f"{gib(idle[0])} / {gib(idle[1])}"),
            ("scoring 16 items: peak, after (PSS)", f"{gib(score_peak[0])}, {gib(after_score[0])}"),
        ]
        if st is not None:
            tokens_per_s = st.get("tokens_per_s", 0.0)
            rows += [
                (f"training {args.examples} ex, batch {args.batch_size} x {args.max_seq_len}", (
                    f"{st['state']} in {st['elapsed_s']:.0f} s, {tokens_per_s:.0f} tok/s, gradient checkpointing "
                    f"{st['gradient_checkpointing']}, estimate {gib(st['memory_estimate_bytes'] or 0)}"
                )),
                ("training peak (PSS / RSS)", f"{gib(train_peak[0])} / {gib(train_peak[1])}"),
                ("after the training (PSS / RSS)", f"{gib(after_train[0])} / {gib(after_train[1])}"),
                ("kept after the training vs before it (PSS)", gib(after_train[0] - after_score[0])),
            ]
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
