"""The real ``python -m sys2ft_worker`` process over HTTP: auth, and training in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import chat

WORKER_DIR = Path(__file__).resolve().parents[1]
KEY = "s3cret-key"
SERVER_PIDS: dict[str, int] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "SYS2FT_WORKER_API_KEY": KEY,
            "SYS2FT_WORKER_ADAPTER_DIR": str(tmp_path_factory.mktemp("proc-adapters")),
            "SYS2FT_WORKER_THREADS": "1",
            "PYTHONPATH": str(WORKER_DIR),
        }
    )
    log = (tmp_path_factory.mktemp("proc-log") / "worker.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sys2ft_worker", "--model", str(tiny_dir), "--port", str(port),
         "--training-mode", "process", "--dtype", "float32"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(WORKER_DIR),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    SERVER_PIDS[base] = proc.pid
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, Path(log.name).read_text()
            try:
                if httpx.get(f"{base}/v1/info", headers={"Authorization": f"Bearer {KEY}"}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("worker did not start: " + Path(log.name).read_text())
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_auth(server: str, tiny_dir: Path) -> None:
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    r = httpx.get(f"{server}/v1/info")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert r.headers["content-type"].startswith("application/problem+json") and r.headers["x-request-id"]
    assert httpx.get(f"{server}/v1/info", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = httpx.post(f"{server}/v1/generate", json={"requests": [{"prompt": "x"}]})
    assert r.status_code == 401
    info = httpx.get(f"{server}/v1/info", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert info["model"] == {"id": str(tiny_dir), "path": str(tiny_dir)}
    assert info["engine"] == "hf" and info["dtype"] == "float32"


def test_generate_and_train_in_subprocess(server: str, tiny_dir: Path) -> None:
    h = {"Authorization": f"Bearer {KEY}", "x-request-id": "req_proc_1"}
    body = {"model": str(tiny_dir), "requests": [{"messages": chat("hi"), "max_tokens": 4, "seed": 1}]}
    r = httpx.post(f"{server}/v1/generate", json=body, headers=h)
    assert r.status_code == 200 and r.headers["x-request-id"] == "req_proc_1"
    ex = [{"messages": chat("What is the zorblat?", "A blue fish.")}] * 4
    r = httpx.post(
        f"{server}/v1/trainings",
        json={"adapter_name": "proc", "examples": ex, "epochs": 10, "batch_size": 4, "learning_rate": 0.02,
              "lr_scheduler": "constant", "lora": {"dropout": 0.0}},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = httpx.get(f"{server}/v1/trainings/{tid}", headers=h).json()
        if st["state"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert st["state"] == "succeeded", st
    assert st["loss_history"][-1]["loss"] < st["loss_history"][0]["loss"]
    q = {"messages": chat("What is the zorblat?"), "temperature": 0, "max_tokens": 10, "adapter": "proc"}
    out = httpx.post(f"{server}/v1/generate", json={"requests": [q]}, headers=h).json()
    assert out["results"][0]["completions"][0]["text"] == "A blue fish."


def test_a_hung_worker_fences_its_training_when_it_resumes(server: str, tiny_dir: Path) -> None:
    """A worker stopped past its training's lease (SIGSTOP, as a hung or partitioned machine) cancels
    that training as soon as it runs again: the dispatcher has given the job to another worker, and
    two attempts must not train at once. Before, it went on until the next health check."""
    import signal

    h = {"Authorization": f"Bearer {KEY}"}
    # 1,600 steps: the training subprocess goes on while its server is stopped, so it must not finish in 3 s
    ex = [{"messages": chat(f"What is zorblat {i}?", "A blue fish that hums.")} for i in range(32)]
    body = {"adapter_name": "fenced", "examples": ex, "epochs": 100, "batch_size": 2, "lease_s": 2.0, "lr_scheduler": "constant"}
    r = httpx.post(f"{server}/v1/trainings", json=body, headers=h)
    assert r.status_code == 202, r.text
    tid = r.json()["id"]
    deadline = time.monotonic() + 60
    while (st := httpx.get(f"{server}/v1/trainings/{tid}", headers=h).json())["step"] < 2:  # polling renews the lease
        assert time.monotonic() < deadline and st["state"] in ("queued", "running"), st
        time.sleep(0.3)
    server_pid = SERVER_PIDS[server]
    os.kill(server_pid, signal.SIGSTOP)
    time.sleep(3.0)  # past the 2 s lease
    os.kill(server_pid, signal.SIGCONT)
    deadline = time.monotonic() + 20
    while True:  # the list does not renew the lease
        st = next(t for t in httpx.get(f"{server}/v1/trainings", headers=h).json()["data"] if t["id"] == tid)
        if st["state"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert st["state"] == "cancelled", st
    assert "lease expired" in (st["error"] or ""), st
    assert st["step"] < st["total_steps"], "it stopped long before the end"
