"""``python -m sys2ft_worker --model … --port 8000``: run the worker with uvicorn.

Flags override the ``SYS2FT_WORKER_*`` environment variables."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .config import Settings


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m sys2ft_worker", description="sys2ft model worker")
    p.add_argument("--model", help="model id, alias or local directory (SYS2FT_WORKER_MODEL)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--engine", choices=["hf", "vllm"])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--dtype", choices=["auto", "bfloat16", "float16", "float32"])
    p.add_argument("--adapter-dir", type=Path)
    p.add_argument("--cache-dir", type=Path)
    p.add_argument("--max-batch", type=int)
    p.add_argument("--max-input-tokens", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--training-mode", choices=["auto", "thread", "process"])
    p.add_argument("--gpu-memory-utilization", type=float)
    p.add_argument("--kv-cache-gib", type=float)
    p.add_argument("--log-level")
    p.add_argument("--exit-with", type=int, metavar="PID", help="exit when this process (the stack that started the worker) exits")
    args = p.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None and k != "exit_with"}
    if args.exit_with is not None:
        from .lifeline import die_with

        die_with(args.exit_with)  # a stack that dies (kill -9, an exit hook that never ran) takes its worker along
    return Settings(**overrides)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from .api import configure_logging, create_app

    settings = parse_args(argv)
    if not settings.model:
        print("error: no model: pass --model or set SYS2FT_WORKER_MODEL", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
