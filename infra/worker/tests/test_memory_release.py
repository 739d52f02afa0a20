"""glibc keeps freed tensors in its heaps; memory_release hands them back (memory_release.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sys2ft_worker import memory_release

WORKER = Path(__file__).resolve().parents[1]

# 400 MB of 4 MB tensors, interleaved with small long-lived blocks (as a forward pass leaves them),
# after an 8 MB tensor was freed: glibc then serves 4 MB from its heap, not from fresh mappings.
FRAGMENT = """
import sys, psutil
from sys2ft_worker import memory_release
if sys.argv[1] == "mmap":
    assert memory_release.prefer_mmap()
import torch
x = torch.empty(8 << 20, dtype=torch.uint8); del x
big, keep = [], []
for _ in range(100):
    big.append(torch.ones(4 << 20, dtype=torch.uint8))
    keep.append(torch.ones(4096, dtype=torch.uint8))
before = psutil.Process().memory_info().rss
big.clear()
if sys.argv[1] == "trim":
    memory_release.trim()
print((before - psutil.Process().memory_info().rss) / 2**20)
"""


def returned_mib(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", FRAGMENT, mode], cwd=WORKER, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


pytestmark = pytest.mark.skipif(memory_release._libc() is None, reason="not glibc")


def test_freed_tensors_stay_with_the_process_by_default() -> None:
    # the failure this module exists for: without it, none of the 400 MB goes back
    assert returned_mib("default") < 100


def test_trim_returns_freed_heap_pages() -> None:
    assert returned_mib("trim") > 300


def test_prefer_mmap_returns_each_tensor_when_freed() -> None:
    assert returned_mib("mmap") > 300
