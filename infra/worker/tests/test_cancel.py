"""A caller that closes its request (a cancelled run aborting its HTTP call) stops the batch at the
next decoding step: before, the worker kept generating the whole call (once 9+ minutes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import chat

from sys2ft_worker.api import create_app
from sys2ft_worker.config import Settings


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[tuple[str, Any]]:
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (server.started and app.state.worker.engine is not None):
        assert time.monotonic() < deadline, "worker did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", app.state.worker
    server.should_exit = True
    thread.join(20)


def test_a_closed_request_stops_its_batch(served: tuple[str, Any], settings: Settings) -> None:
    base, worker = served
    stats = worker.engine.stats
    long = {"requests": [{"messages": chat("Count to a million."), "max_tokens": 4096, "n": 8, "temperature": 1.0, "seed": 5}]}
    before = stats.decode_steps
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{base}/v1/generate", json=long, timeout=httpx.Timeout(10.0, read=1.5))
    time.sleep(1.0)  # the watcher polls every 0.25 s; the batch checks before each step
    stopped_at = stats.decode_steps
    time.sleep(1.0)
    assert stats.decode_steps == stopped_at, "decoding went on after the caller left"
    steps = stopped_at - before
    assert 0 < steps < 4096, f"the batch ran {steps} of its 4096 steps"

    # the engine is free at once for the next caller
    t0 = time.monotonic()
    quick = httpx.post(f"{base}/v1/generate", json={"requests": [{"messages": chat("hi"), "max_tokens": 2}]}, timeout=30)
    assert quick.status_code == 200, quick.text
    assert time.monotonic() - t0 < 5
