"""The HTTP layer: ``create_app(settings)`` wires routes to the engine, the training manager
and the adapter registry. Routes are thin; every error is ``application/problem+json``."""

from __future__ import annotations

import contextvars
import hmac
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import anyio
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__, memory_release
from .adapters import AdapterRegistry
from .config import Settings
from .engine import Engine
from .errors import Conflict, EngineError, NotFound, Unauthorized, UnknownModel, WorkerError
from .models import resolve_model
from .protocol import (
    AdapterList,
    AdapterManifest,
    FieldError,
    GenerateRequest,
    GenerateResponse,
    Health,
    Info,
    ModelInfo,
    Problem,
    ScoreRequest,
    ScoreResponse,
    TrainingList,
    TrainingRef,
    TrainingRequest,
    TrainingStatus,
    Usage,
)
from .training import TrainingManager

log = logging.getLogger("sys2ft_worker")

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
PROBLEM_JSON = "application/problem+json"
T = TypeVar("T")


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every log record (``%(request_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class WorkerState:
    """What the routes need: the engine, the registry and the training manager."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.registry = AdapterRegistry(settings.adapter_dir)
        self.trainings: TrainingManager | None = None

    def start(self) -> None:
        if self.engine is not None:
            return
        if not self.settings.model:
            raise RuntimeError("no model configured: set SYS2FT_WORKER_MODEL or pass --model")
        resolved = resolve_model(self.settings.model, self.settings.cache_dir)
        if self.settings.engine == "vllm":
            from .engine_vllm import VLLMEngine

            engine: Engine = VLLMEngine(resolved, self.settings, self.registry)
        else:
            from .engine_hf import HFEngine

            engine = HFEngine(resolved, self.settings, self.registry)
        self.engine = engine
        self.trainings = TrainingManager(
            self.registry,
            model_id=engine.model_id,
            model_path=engine.model_path,
            device=engine.device,
            dtype=engine.dtype,
            threads=self.settings.threads,
            mode=self.settings.resolved_training_mode(),
            on_adapter_written=engine.forget_adapter,
            memory=engine.training_memory(self.settings.memory_limit_gb),
            cpu_turns=getattr(engine, "cpu_turns", None) if self.settings.cpu_turns else None,
        )

    def stop(self) -> None:
        if self.trainings is not None:
            self.trainings.shutdown()
        if self.engine is not None:
            self.engine.close()

    def ready_engine(self) -> Engine:
        if self.engine is None:
            raise EngineError("the engine is not loaded")
        return self.engine

    def ready_trainings(self) -> TrainingManager:
        if self.trainings is None:
            raise EngineError("the engine is not loaded")
        return self.trainings

    def check_model(self, model: str | None) -> None:
        engine = self.ready_engine()
        if model is not None and model not in (engine.model_id, engine.model_path):
            raise UnknownModel(f"model {model!r} is not loaded; this worker serves {engine.model_id!r}")


def problem(status: int, code: str, title: str, detail: str, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    body = Problem(
        title=title, status=status, detail=detail, code=code, request_id=request_id_var.get(),
        errors=[FieldError(**e) for e in errors] if errors else None,
    )  # fmt: skip
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _json_pointer(loc: tuple[Any, ...]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    # drop pydantic's union-member tags such as "literal['all-linear']" or "list[str]"
    parts = [p for p in parts if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _engine_call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except WorkerError:
        raise
    except Exception as exc:  # noqa: BLE001 - becomes a 500 engine_error; the worker stays up
        log.exception("engine error")
        raise EngineError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        # the call's activations are freed; hand their pages back so an idle worker (and the
        # training that may start next beside it) does not carry them
        memory_release.trim()


async def _until_disconnect(request: Request, fn: Callable[[Callable[[], bool]], T]) -> T:
    """Runs an engine call in a thread while watching the connection: when the caller closes the
    request (a cancelled run aborts its HTTP call), the engine's stop check turns true and the batch
    stops at its next decoding step instead of running for minutes to an answer nobody reads."""
    gone = threading.Event()

    async def watch() -> None:
        # Waits on the ASGI channel itself: the body is already read, so the next message is the
        # disconnect. (Request.is_disconnected() only peeks, and behind the request middleware the
        # peek never sees it: the batch ran on for minutes after its caller left.)
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                log.info("caller closed the request; stopping the batch")
                gone.set()
                return

    # The engine's own error (a 404 for an unknown adapter, a 400, a 500) is kept out of the task
    # group and raised after it, as itself: a group would wrap it in an ExceptionGroup, a 500.
    failure: Exception | None = None
    result: T | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        try:
            result = await anyio.to_thread.run_sync(lambda: fn(gone.is_set))
        except Exception as exc:  # noqa: BLE001 - re-raised below, unchanged
            failure = exc
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return cast(T, result)


_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": desc, "content": {PROBLEM_JSON: {}}}
    for code, desc in {
        400: "validation_failed or input_too_long",
        401: "unauthorized",
        404: "not_found, unknown_model or unknown_adapter",
        409: "conflict",
        500: "engine_error",
    }.items()
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    state = WorkerState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(state.start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(state.stop)

    app = FastAPI(
        title="sys2ft model worker",
        version=__version__,
        description="Batched generation, scoring, LoRA training and adapters over one loaded model.",
        lifespan=lifespan,
        responses=_PROBLEM_RESPONSES,  # type: ignore[arg-type]
    )
    app.state.worker = state
    bearer = HTTPBearer(auto_error=False, description="Needed when SYS2FT_WORKER_API_KEY is set.")
    secured = [Depends(bearer)]  # documents the scheme; the middleware enforces it

    # ------------------------------------------------------------ middleware and errors

    @app.middleware("http")
    async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        incoming = request.headers.get("x-request-id", "")
        rid = incoming if _REQUEST_ID_RE.match(incoming) else f"req_{uuid.uuid4().hex}"
        token = request_id_var.set(rid)
        t0 = time.perf_counter()
        try:
            if settings.api_key and request.url.path != "/healthz":
                header = request.headers.get("authorization", "")
                expected = f"Bearer {settings.api_key}"
                if not hmac.compare_digest(header.encode(), expected.encode()):
                    response: Response = problem(
                        401, "unauthorized", "Unauthorized", "missing or wrong bearer token",
                        headers={"WWW-Authenticate": "Bearer"},
                    )  # fmt: skip
                    response.headers["x-request-id"] = rid
                    return response
            try:
                response = await call_next(request)
            except Exception as exc:  # noqa: BLE001 - last resort: never a bare 500 or a stack trace
                log.exception("unhandled error")
                response = problem(500, "engine_error", "Engine error", f"{type(exc).__name__}: {exc}")
            response.headers["x-request-id"] = rid
            log.info(
                "%s %s -> %d (%.1f ms)", request.method, request.url.path, response.status_code,
                (time.perf_counter() - t0) * 1000,
            )  # fmt: skip
            return response
        finally:
            request_id_var.reset(token)

    @app.exception_handler(WorkerError)
    async def worker_error(_: Request, exc: WorkerError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s: %s", exc.code, exc.detail)
        return problem(exc.status, exc.code, exc.title, exc.detail, exc.errors)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"path": _json_pointer(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))} for e in exc.errors()]
        detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5])
        if len(errors) > 5:
            detail += f"; and {len(errors) - 5} more"
        return problem(400, "validation_failed", "Validation failed", detail or "invalid request", errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(exc.status_code, "http_error")
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem(exc.status_code, code, title, str(exc.detail))

    # ------------------------------------------------------------ routes

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        return Health()

    @app.get("/v1/info", response_model=Info, tags=["info"], dependencies=secured)
    def info() -> Info:
        engine = state.ready_engine()
        current = state.ready_trainings().current()
        return Info(
            engine=engine.name,
            device=engine.device,
            dtype=engine.dtype,
            model=ModelInfo(id=engine.model_id, path=engine.model_path),
            adapters=state.registry.names(),
            training=TrainingRef(id=current.id, state=current.state) if current else None,
            max_batch=settings.max_batch,
            version=__version__,
        )

    @app.post("/v1/generate", response_model=GenerateResponse, tags=["inference"], dependencies=secured)
    async def generate(body: GenerateRequest, request: Request) -> GenerateResponse:
        state.check_model(body.model)
        engine = state.ready_engine()
        t0 = time.perf_counter()
        results = await _until_disconnect(request, lambda stop: _engine_call(lambda: engine.generate(body.requests, stop)))
        return GenerateResponse(
            model=engine.model_id,
            results=results,
            usage=Usage(
                prompt_tokens=sum(r.prompt_tokens for r in results),
                completion_tokens=sum(c.completion_tokens for r in results for c in r.completions),
            ),
            elapsed_s=round(time.perf_counter() - t0, 4),
        )

    @app.post("/v1/score", response_model=ScoreResponse, tags=["inference"], dependencies=secured)
    def score(body: ScoreRequest) -> ScoreResponse:
        state.check_model(body.model)
        engine = state.ready_engine()
        t0 = time.perf_counter()
        results = _engine_call(lambda: engine.score(body.items, body.strategy))
        return ScoreResponse(model=engine.model_id, results=results, elapsed_s=round(time.perf_counter() - t0, 4))

    @app.post(
        "/v1/trainings",
        response_model=TrainingStatus,
        status_code=202,
        tags=["training"],
        dependencies=secured,
        responses={200: {"model": TrainingStatus, "description": "a training with this training_id exists"}},
    )
    def create_training(body: TrainingRequest, response: Response) -> TrainingStatus:
        status, created = state.ready_trainings().submit(body)
        response.status_code = 202 if created else 200
        response.headers["Location"] = f"/v1/trainings/{status.id}"
        return status

    @app.get("/v1/trainings", response_model=TrainingList, tags=["training"], dependencies=secured)
    def list_trainings() -> TrainingList:
        return TrainingList(data=state.ready_trainings().list())

    @app.get("/v1/trainings/{training_id}", response_model=TrainingStatus, tags=["training"], dependencies=secured)
    def get_training(training_id: str) -> TrainingStatus:
        return state.ready_trainings().get(training_id)

    @app.delete("/v1/trainings/{training_id}", response_model=TrainingStatus, tags=["training"], dependencies=secured)
    def cancel_training(training_id: str) -> TrainingStatus:
        return state.ready_trainings().cancel(training_id)

    @app.get("/v1/adapters", response_model=AdapterList, tags=["adapters"], dependencies=secured)
    def list_adapters() -> AdapterList:
        return AdapterList(data=state.registry.list())

    @app.get("/v1/adapters/{name}", response_model=AdapterManifest, tags=["adapters"], dependencies=secured)
    def get_adapter(name: str) -> AdapterManifest:
        if not state.registry.exists(name):
            raise NotFound(f"adapter {name!r} does not exist")
        return state.registry.manifest(name)

    @app.delete("/v1/adapters/{name}", status_code=204, tags=["adapters"], dependencies=secured)
    def delete_adapter(name: str) -> Response:
        if state.registry.is_busy(name):
            raise Conflict(f"adapter {name!r} is being written by a running training")
        if not state.registry.exists(name):
            raise NotFound(f"adapter {name!r} does not exist")
        state.registry.delete(name)
        if state.engine is not None:
            state.engine.forget_adapter(name)
        return Response(status_code=204)

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            # Validation errors are answered 400 problem+json, never FastAPI's 422.
            for path_item in doc.get("paths", {}).values():
                for op in path_item.values():
                    op.get("responses", {}).pop("422", None)
            schemas = doc.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app


__all__ = ["create_app", "configure_logging", "request_id_var", "Unauthorized"]
