"""Errors the worker answers with, as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any


class WorkerError(Exception):
    """An error with an HTTP status and a stable machine code."""

    status: int = 500
    code: str = "engine_error"
    title: str = "Engine error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class ValidationFailed(WorkerError):
    status, code, title = 400, "validation_failed", "Validation failed"


class InputTooLong(WorkerError):
    status, code, title = 400, "input_too_long", "Input too long"


class Unauthorized(WorkerError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class NotFound(WorkerError):
    status, code, title = 404, "not_found", "Not found"


class Cancelled(WorkerError):
    """The caller closed the request: the batch stopped at its next decoding step."""

    status, code, title = 499, "client_closed", "Client closed the request"


class UnknownModel(WorkerError):
    status, code, title = 404, "unknown_model", "Unknown model"


class UnknownAdapter(WorkerError):
    status, code, title = 404, "unknown_adapter", "Unknown adapter"


class Conflict(WorkerError):
    status, code, title = 409, "conflict", "Conflict"


class InsufficientMemory(WorkerError):
    """A training whose estimated memory does not fit: refused before it starts."""

    status, code, title = 422, "insufficient_memory", "Insufficient memory"


class EngineError(WorkerError):
    status, code, title = 500, "engine_error", "Engine error"


class EngineUnavailable(WorkerError):
    """Raised when an optional engine backend (vLLM) cannot be imported or used here."""

    status, code, title = 500, "engine_error", "Engine unavailable"
