"""The ``ray`` execution backend: the worker's engines as Ray actors, and the launcher that keeps them.

``python -m sys2ft_worker.ray_pool --address HOST:PORT --model M --replicas N [--num-gpus 1]
[--num-cpus C] [--model-resource auto|on|off] [--port P] [--state-file F]`` connects to a Ray cluster
and starts N engine actors. Each actor is this worker, the same code: it builds the FastAPI app of
``sys2ft_worker.api`` with the same engine and serves it with uvicorn on a free port of the node Ray
placed it on; the services call it over HTTP exactly as they call a worker started by hand.

Decisions:

- **Owned, not detached.** The actors belong to the launcher's Ray job: the launcher is the only
  place that lists them (its endpoint is how the services find them), so when it ends they end, and
  no actor is left holding a GPU that nobody lists. A restarted launcher starts fresh actors; the
  training dispatcher finds the old URLs refused and requeues their jobs with an attempt counted.
- **``max_restarts=0``, ``max_task_retries=0``; the launcher replaces dead actors.** Ray never
  retries or restarts anything on its own, so every lost attempt is counted by the product (the
  training dispatcher, the generation and evaluation job runners), never hidden. A dead actor's slot
  gets a new actor (a new URL) after ``--replace-delay`` seconds, at most ``--max-replacements``
  times over the launcher's life.
- **Placement by resources**: ``num_cpus`` (also the actor's torch threads), ``num_gpus`` (Ray sets
  ``CUDA_VISIBLE_DEVICES``; the engine's ``auto`` device then takes the GPU), and one unit of the
  model's custom resource ``sys2ft-model-<model, / as -->`` — the name the Helm chart's RayCluster
  declares on its GPU pods — when the cluster declares it (``auto``), always (``on``) or never.
- **Adapters on one shared path**: every actor gets the same ``adapter_dir`` (``--adapter-dir`` or
  ``SYS2FT_WORKER_ADAPTER_DIR``, made absolute), a path every node must mount (a ReadWriteMany
  volume on Kubernetes). The registry reads the directory on every call and publishes with an atomic
  rename, so an adapter trained by one actor is served by all.
- **Code**: actors run the launcher's interpreter and import ``sys2ft_worker`` from the launcher's
  directory (``PYTHONPATH`` in the actor's runtime env): the same venv and files on one machine, the
  same image path (``/app``) on every pod of a cluster.

The launcher serves ``GET /healthz`` and ``GET /v1/pool`` (bearer ``SYS2FT_WORKER_API_KEY`` when
set): the actors (name, slot, url, state, pid, node) and Ray's view of the cluster (nodes, CPUs and
GPUs total/available, actors alive/dead/restarting/pending). ``--state-file`` gets the same JSON
each time it changes.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("sys2ft_worker.ray_pool")
NAMESPACE = "sys2ft"


def model_resource(model: str) -> str:
    """The custom resource a node serving ``model`` declares (as infra/helm's RayCluster does)."""
    return "sys2ft-model-" + model.replace("/", "--")


def actor_name(model: str, slot: int, generation: int) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in model)
    return f"engine-{safe}-{slot}" + (f"-r{generation}" if generation else "")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EngineActor:
    """One model worker inside a Ray actor: the app of ``sys2ft_worker.api`` served by uvicorn in a
    thread of the actor's process. ``__init__`` returns once the model is loaded and the port
    answers, so the first ``address()`` call tells the launcher the actor is ready."""

    def __init__(self, settings: dict[str, Any], start_timeout_s: float = 600.0) -> None:
        import ray
        import uvicorn

        from .api import configure_logging, create_app
        from .config import Settings

        s = Settings(**settings)
        configure_logging(s.log_level)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.node_ip = ray.util.get_node_ip_address()
        self.node_id = ray.get_runtime_context().get_node_id()
        host = s.host if s.host not in ("", "auto") else self.node_ip
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, s.port))
        port = sock.getsockname()[1]
        advertised = self.node_ip if host in ("0.0.0.0", "::") else host
        self.url = f"http://{advertised}:{port}"
        app = create_app(s)
        # uvicorn installs no signal handlers outside the main thread: Ray's own stay in charge
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"the worker app did not start (model {s.model}); see this actor's log")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker app did not start within {start_timeout_s:.0f} s")
            time.sleep(0.1)

    def address(self) -> dict[str, Any]:
        return {"url": self.url, "pid": os.getpid(), "node_id": self.node_id, "node_ip": self.node_ip}

    def ping(self) -> bool:
        return self.thread.is_alive()

    def shutdown(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@dataclass
class Slot:
    index: int
    generation: int = 0
    name: str = ""
    handle: Any = None
    ready_ref: Any = None
    state: str = "pending"  # pending (placed or waiting for resources, loading) | alive | dead
    url: str | None = None
    pid: int | None = None
    node_id: str | None = None
    node_ip: str | None = None
    started_at: str | None = None
    died_at: str | None = None
    error: str | None = None
    replacements: int = 0
    dead_since: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class Launcher:
    def __init__(self, args: argparse.Namespace, worker_settings: dict[str, Any]) -> None:
        self.args = args
        self.settings = worker_settings
        self.slots = [Slot(i) for i in range(args.replicas)]
        self.replacements = 0
        self.stopped = threading.Event()
        self.resources: dict[str, float] | None = None

    # ---- actors

    def _options(self) -> dict[str, Any]:
        import ray

        total = ray.cluster_resources()
        res = model_resource(self.args.model)
        use = self.args.model_resource == "on" or (self.args.model_resource == "auto" and res in total)
        self.resources = {res: 1.0} if use else None
        code_dir = str(Path(__file__).resolve().parents[1])
        env = {"PYTHONPATH": os.pathsep.join(p for p in [code_dir, os.environ.get("PYTHONPATH", "")] if p)}
        for k in ("HF_HUB_OFFLINE", "HF_HOME", "TRANSFORMERS_OFFLINE"):
            if k in os.environ:
                env[k] = os.environ[k]
        return {
            "num_cpus": self.args.num_cpus,
            "num_gpus": self.args.num_gpus,
            "max_restarts": 0,
            "max_task_retries": 0,
            "namespace": NAMESPACE,
            "runtime_env": {"env_vars": env},
            **({"resources": self.resources} if self.resources else {}),
        }

    def start_slot(self, slot: Slot) -> None:
        import ray

        remote_cls = ray.remote(EngineActor)
        slot.name = actor_name(self.args.model, slot.index, slot.generation)
        slot.handle = remote_cls.options(name=slot.name, **self._options()).remote(self.settings, self.args.start_timeout)
        slot.ready_ref = slot.handle.address.remote()
        slot.state, slot.url, slot.pid, slot.error, slot.dead_since, slot.died_at = "pending", None, None, None, None, None
        slot.started_at = _now()
        log.info("started actor %s (slot %d)", slot.name, slot.index)

    def _died(self, slot: Slot, reason: str) -> None:
        log.warning("actor %s died: %s", slot.name, reason)
        slot.history.append({"name": slot.name, "url": slot.url, "pid": slot.pid, "died_at": _now(), "reason": reason[:500]})
        slot.state, slot.error, slot.died_at, slot.dead_since = "dead", reason[:2000], _now(), time.monotonic()
        slot.ready_ref = None

    def poll(self) -> bool:
        """One look at every slot; True when something changed."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayError

        changed = False
        for slot in self.slots:
            if slot.state == "pending" and slot.ready_ref is not None:
                done, _ = ray.wait([slot.ready_ref], timeout=0)
                if done:
                    try:
                        info = ray.get(slot.ready_ref)
                        slot.state, slot.url, slot.pid = "alive", info["url"], info["pid"]
                        slot.node_id, slot.node_ip = info["node_id"], info["node_ip"]
                        log.info("actor %s is serving at %s (pid %d)", slot.name, slot.url, slot.pid)
                    except RayError as exc:
                        self._died(slot, f"{type(exc).__name__}: {exc}")
                    slot.ready_ref = None
                    changed = True
            elif slot.state == "alive":
                try:
                    ray.get(slot.handle.ping.remote(), timeout=self.args.ping_timeout)
                except GetTimeoutError:
                    pass  # busy or slow: not dead; the services' own timeouts and leases decide
                except (RayActorError, RayError) as exc:
                    self._died(slot, f"{type(exc).__name__}: {exc}")
                    changed = True
            if slot.state == "dead" and slot.dead_since is not None:
                if self.replacements < self.args.max_replacements and time.monotonic() - slot.dead_since >= self.args.replace_delay:
                    self.replacements += 1
                    slot.generation += 1
                    slot.replacements += 1
                    self.start_slot(slot)
                    changed = True
        return changed

    # ---- the view

    def cluster_view(self) -> dict[str, Any]:
        import ray

        view: dict[str, Any] = {"nodes": [], "resources": {}, "actors": {}}
        try:
            total, avail = ray.cluster_resources(), ray.available_resources()
            view["resources"] = {
                "cpus": {"total": total.get("CPU", 0.0), "available": avail.get("CPU", 0.0)},
                "gpus": {"total": total.get("GPU", 0.0), "available": avail.get("GPU", 0.0)},
                "custom": {k: {"total": v, "available": avail.get(k, 0.0)} for k, v in total.items() if k.startswith("sys2ft-model-")},
            }
            per_node: dict[str, dict[str, float]] = {}
            try:
                from ray._private import state as _state

                per_node = _state.available_resources_per_node()
            except Exception:  # noqa: BLE001 - internal API: the totals above still stand
                per_node = {}
            for n in ray.nodes():
                r, a = n.get("Resources", {}), per_node.get(n.get("NodeID", ""), {})
                view["nodes"].append({
                    "node_id": n.get("NodeID"),
                    "address": n.get("NodeManagerAddress"),
                    "alive": bool(n.get("Alive")),
                    "cpus": {"total": r.get("CPU", 0.0), "available": a.get("CPU", 0.0) if a else None},
                    "gpus": {"total": r.get("GPU", 0.0), "available": a.get("GPU", 0.0) if a else None},
                })  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the view is best effort; the actors list is not
            view["error"] = f"{type(exc).__name__}: {exc}"
        counts = {"alive": 0, "dead": 0, "restarting": 0, "pending": 0}
        try:
            from ray._private import state as _state

            for a in _state.actors().values():  # the GCS actor table (no dashboard needed)
                if a.get("RayNamespace", NAMESPACE) != NAMESPACE:
                    continue
                st = str(a.get("State", "")).upper()
                key = {"ALIVE": "alive", "DEAD": "dead", "RESTARTING": "restarting"}.get(st, "pending")
                counts[key] += 1
        except Exception:  # noqa: BLE001 - fall back to what the launcher knows
            for s in self.slots:
                counts[s.state if s.state in counts else "pending"] += 1
        view["actors"] = counts
        return view

    def snapshot(self) -> dict[str, Any]:
        # read without a lock: the poll loop replaces whole fields, a row is never half-written
        actors = [
            {
                "name": s.name, "slot": s.index, "url": s.url, "state": s.state, "pid": s.pid,
                "node_id": s.node_id, "node_ip": s.node_ip, "started_at": s.started_at, "died_at": s.died_at,
                "error": s.error, "replacements": s.replacements, "previous": s.history,
            }
            for s in self.slots
        ]  # fmt: skip
        return {
            "object": "ray_pool",
            "model": self.args.model,
            "address": self.args.address,
            "namespace": NAMESPACE,
            "placement": {"num_cpus": self.args.num_cpus, "num_gpus": self.args.num_gpus, "resources": self.resources},
            "max_restarts": 0,
            "max_task_retries": 0,
            "replacements": {"used": self.replacements, "max": self.args.max_replacements},
            "actors": actors,
            "cluster": self.cluster_view(),
            "updated_at": _now(),
        }

    def write_state(self) -> None:
        if not self.args.state_file:
            return
        p = Path(self.args.state_file)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps({**self.snapshot(), "launcher_url": self.launcher_url}, indent=2), encoding="utf-8")
        os.replace(tmp, p)

    # ---- HTTP

    def serve(self) -> ThreadingHTTPServer:
        launcher = self
        key = self.settings.get("api_key")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *a: Any) -> None:  # noqa: D102 - quiet
                log.debug(fmt, *a)

            def _send(self, status: int, body: dict[str, Any], ctype: str = "application/json") -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    return self._send(200, {"status": "ok"})
                if key and not hmac.compare_digest(self.headers.get("authorization", "").encode(), f"Bearer {key}".encode()):
                    return self._send(401, {"type": "about:blank", "title": "Unauthorized", "status": 401, "code": "unauthorized", "detail": "missing or wrong bearer token"}, "application/problem+json")
                if path == "/v1/pool":
                    return self._send(200, launcher.snapshot())
                return self._send(404, {"type": "about:blank", "title": "Not Found", "status": 404, "code": "not_found", "detail": f"no route {path}"}, "application/problem+json")

        srv = ThreadingHTTPServer((self.args.host, self.args.port), Handler)
        srv.daemon_threads = True
        self.launcher_url = f"http://{self.args.host}:{srv.server_address[1]}"
        threading.Thread(target=srv.serve_forever, name="pool-http", daemon=True).start()
        return srv

    def run(self) -> None:
        for slot in self.slots:
            self.start_slot(slot)
        self.write_state()
        last_write = time.monotonic()
        while not self.stopped.is_set():
            changed = self.poll()
            if changed or time.monotonic() - last_write > 5:
                self.write_state()
                last_write = time.monotonic()
            self.stopped.wait(self.args.poll_interval)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sys2ft_worker.ray_pool", description="sys2ft engine actors on a Ray cluster")
    p.add_argument("--address", default=os.environ.get("SYS2FT_RAY_ADDRESS"), help="Ray cluster (host:port of the GCS, ray://…, or auto); default SYS2FT_RAY_ADDRESS")
    p.add_argument("--model", default=os.environ.get("SYS2FT_WORKER_MODEL"), help="alias, local directory or hub id (SYS2FT_WORKER_MODEL)")
    p.add_argument("--replicas", type=int, default=1)
    p.add_argument("--num-cpus", type=float, default=1.0, help="CPUs per actor (also its torch threads)")
    p.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per actor")
    p.add_argument("--model-resource", choices=["auto", "on", "off"], default="auto", help="ask one unit of sys2ft-model-<model> (auto: when the cluster declares it)")
    p.add_argument("--host", default="127.0.0.1", help="the launcher's listen address")
    p.add_argument("--port", type=int, default=0, help="the launcher's port (0: a free one, see --state-file)")
    p.add_argument("--state-file", help="write the pool's JSON here whenever it changes")
    p.add_argument("--worker-host", default="auto", help="where actors listen: auto = the node's IP")
    p.add_argument("--adapter-dir", type=Path, help="the shared adapter registry (SYS2FT_WORKER_ADAPTER_DIR); every node must see it")
    p.add_argument("--dtype", choices=["auto", "bfloat16", "float16", "float32"])
    p.add_argument("--engine", choices=["hf", "vllm"])
    p.add_argument("--max-replacements", type=int, default=8, help="dead actors replaced over the launcher's life")
    p.add_argument("--replace-delay", type=float, default=1.0, help="seconds a dead slot waits before its replacement")
    p.add_argument("--poll-interval", type=float, default=0.5)
    p.add_argument("--ping-timeout", type=float, default=5.0)
    p.add_argument("--start-timeout", type=float, default=600.0, help="seconds an actor may take to load its model")
    p.add_argument("--exit-with", type=int, metavar="PID", help="exit when this process exits")
    args = p.parse_args(argv)
    if not args.address:
        p.error("no Ray address: pass --address or set SYS2FT_RAY_ADDRESS")
    if not args.model:
        p.error("no model: pass --model or set SYS2FT_WORKER_MODEL")
    if args.replicas < 1:
        p.error("--replicas must be at least 1")
    return args


def worker_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings every actor gets: SYS2FT_WORKER_* of the launcher's environment, then the flags."""
    from .config import Settings

    s = Settings(model=args.model)
    overrides: dict[str, Any] = {"host": args.worker_host, "port": 0}
    if args.adapter_dir:
        overrides["adapter_dir"] = args.adapter_dir
    if args.dtype:
        overrides["dtype"] = args.dtype
    if args.engine:
        overrides["engine"] = args.engine
    if s.threads is None:
        overrides["threads"] = max(1, int(args.num_cpus))
    s = s.model_copy(update=overrides)
    out = s.model_dump(mode="json")
    # one registry for every actor: an absolute path (actors do not share the launcher's cwd)
    out["adapter_dir"] = str(Path(out["adapter_dir"]).resolve())
    out["cache_dir"] = str(Path(out["cache_dir"]).resolve())
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.exit_with is not None:
        from .lifeline import die_with

        die_with(args.exit_with)
    import ray

    settings = worker_settings(args)
    Path(settings["adapter_dir"]).mkdir(parents=True, exist_ok=True)
    ray.init(address=args.address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)
    launcher = Launcher(args, settings)
    signal.signal(signal.SIGTERM, lambda *_: launcher.stopped.set())
    srv = launcher.serve()
    log.info("ray pool launcher at %s: %d × %s on %s", launcher.launcher_url, args.replicas, args.model, args.address)
    try:
        launcher.run()
    except KeyboardInterrupt:
        pass
    finally:
        srv.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
