"""The adapter registry: LoRA adapters in PEFT format under ``<ADAPTER_DIR>/<name>/``, each
with a ``manifest.json``. The directory is the source of truth (read on every call), so adapters
written by an earlier run or another worker process are listed too."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

from .errors import Conflict, UnknownAdapter
from .protocol import ADAPTER_NAME_PATTERN, AdapterManifest

MANIFEST = "manifest.json"
_NAME_RE = re.compile(ADAPTER_NAME_PATTERN)


class AdapterRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._busy: set[str] = set()  # names a training is writing

    # ---- lookup

    @staticmethod
    def valid_name(name: str) -> bool:
        return bool(_NAME_RE.match(name)) and name not in {".", ".."}

    def path(self, name: str) -> Path:
        """The directory of an existing adapter, or UnknownAdapter (404)."""
        if not self.valid_name(name):
            raise UnknownAdapter(f"adapter {name!r} does not exist")
        d = self.root / name
        if not (d / MANIFEST).is_file() or not (d / "adapter_config.json").is_file():
            raise UnknownAdapter(f"adapter {name!r} does not exist in {self.root}")
        return d

    def exists(self, name: str) -> bool:
        try:
            self.path(name)
            return True
        except UnknownAdapter:
            return False

    def fingerprint(self, name: str) -> int:
        """Changes whenever the adapter is rewritten (manifest mtime)."""
        return (self.path(name) / MANIFEST).stat().st_mtime_ns

    def manifest(self, name: str) -> AdapterManifest:
        raw = json.loads((self.path(name) / MANIFEST).read_text(encoding="utf-8"))
        return AdapterManifest.model_validate(raw)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            d.name
            for d in self.root.iterdir()
            if d.is_dir() and not d.name.startswith(".") and (d / MANIFEST).is_file()
            and (d / "adapter_config.json").is_file()
        )  # fmt: skip

    def list(self) -> list[AdapterManifest]:
        out: list[AdapterManifest] = []
        for name in self.names():
            try:
                out.append(self.manifest(name))
            except (OSError, ValueError):
                continue  # unreadable manifest: not listed
        return out

    # ---- writes

    def mark_busy(self, name: str) -> None:
        with self._lock:
            self._busy.add(name)

    def clear_busy(self, name: str) -> None:
        with self._lock:
            self._busy.discard(name)

    def is_busy(self, name: str) -> bool:
        with self._lock:
            return name in self._busy

    def staging_dir(self, name: str, token: str) -> Path:
        d = self.root / f".tmp-{name}-{token}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    def publish(self, staging: Path, name: str, manifest: dict[str, Any], *, overwrite: bool) -> AdapterManifest:
        """Write the manifest into the staged adapter and move it into place atomically."""
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        with self._lock:
            target = self.root / name
            if target.exists():
                if not overwrite:
                    raise Conflict(f"adapter {name!r} already exists (set overwrite: true)")
                trash = self.root / f".trash-{name}-{os.getpid()}-{threading.get_ident()}"
                os.replace(target, trash)
                os.replace(staging, target)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(staging, target)
        return self.manifest(name)

    def delete(self, name: str) -> None:
        with self._lock:
            if self.is_busy(name):
                raise Conflict(f"adapter {name!r} is being written by a running training")
            d = self.path(name)
            trash = self.root / f".trash-{name}-{os.getpid()}-{threading.get_ident()}"
            os.replace(d, trash)
        shutil.rmtree(trash, ignore_errors=True)
