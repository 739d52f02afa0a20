"""Print the worker's OpenAPI document: ``python -m sys2ft_worker.openapi > openapi/worker.json``
(or ``--write`` to write ``<repo>/openapi/worker.json``). Sorted keys, 2-space indent."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .config import Settings, repo_root


def openapi_document() -> dict[str, Any]:
    from .api import create_app

    return create_app(Settings(model=None)).openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sys2ft_worker.openapi")
    p.add_argument("--write", action="store_true", help="write <repo>/openapi/worker.json instead of stdout")
    args = p.parse_args(argv)
    text = render()
    if args.write:
        out = repo_root() / "openapi" / "worker.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(out)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
