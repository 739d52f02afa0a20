"""Errors are application/problem+json with stable codes; the worker survives engine errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import MAX_INPUT_TOKENS, chat
from fastapi.testclient import TestClient

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert PROBLEM_KEYS <= set(body)
    assert body["type"] == "about:blank" and body["status"] == status and body["code"] == code
    assert body["request_id"] == r.headers["x-request-id"]
    return body


def test_empty_batch(client: TestClient) -> None:
    body = assert_problem(client.post("/v1/generate", json={"requests": []}), 400, "validation_failed")
    assert [e["path"] for e in body["errors"]] == ["/requests"]


def test_every_failing_field_is_named(client: TestClient) -> None:
    reqs = [
        {"prompt": "x", "messages": chat("x")},
        {"prompt": "x", "temperature": 2.5, "top_p": 0, "max_tokens": 0, "n": 65, "stop": ["a"] * 9},
        {},
    ]
    body = assert_problem(client.post("/v1/generate", json={"requests": reqs}), 400, "validation_failed")
    paths = [e["path"] for e in body["errors"]]
    assert "/requests/0" in paths and "/requests/2" in paths
    for field in ("temperature", "top_p", "max_tokens", "n", "stop"):
        assert f"/requests/1/{field}" in paths
    assert any("exactly one" in e["message"] for e in body["errors"] if e["path"] == "/requests/0")


def test_bad_json_and_unknown_fields(client: TestClient) -> None:
    r = client.post("/v1/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(r, 400, "validation_failed")
    r = client.post("/v1/score", json={"items": [{"prompt": "x", "continuations": ["y"], "bogus": 1}]})
    body = assert_problem(r, 400, "validation_failed")
    assert body["errors"][0]["path"] == "/items/0/bogus"
    r = client.post("/v1/score", json={"items": [{"prompt": "x", "continuations": []}]})
    assert assert_problem(r, 400, "validation_failed")["errors"][0]["path"] == "/items/0/continuations"


def test_unknown_adapter_and_model(client: TestClient) -> None:
    r = client.post("/v1/generate", json={"requests": [{"prompt": "x", "adapter": "no-such"}]})
    assert_problem(r, 404, "unknown_adapter")
    r = client.post("/v1/score", json={"items": [{"prompt": "x", "continuations": ["y"], "adapter": "no-such"}]})
    assert_problem(r, 404, "unknown_adapter")
    r = client.post("/v1/generate", json={"model": "qwen-999b", "requests": [{"prompt": "x"}]})
    assert_problem(r, 404, "unknown_model")
    assert_problem(client.get("/v1/adapters/no-such"), 404, "not_found")


def test_input_too_long(client: TestClient) -> None:
    long_prompt = "the quick brown fox " * MAX_INPUT_TOKENS
    r = client.post("/v1/generate", json={"requests": [{"prompt": "ok"}, {"prompt": long_prompt}]})
    body = assert_problem(r, 400, "input_too_long")
    assert body["errors"][0]["path"] == "/requests/1"
    r = client.post("/v1/score", json={"items": [{"prompt": "ok", "continuations": ["fine", long_prompt]}]})
    assert assert_problem(r, 400, "input_too_long")["errors"][0]["path"] == "/items/0/continuations/1"


def test_unknown_route_and_method(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(client.put("/v1/generate", json={}), 405, "method_not_allowed")


def test_engine_error_is_500_and_worker_stays_up(client: TestClient, settings: Any) -> None:
    # An adapter whose weights are corrupt on disk: loading it fails inside the engine.
    d = Path(settings.adapter_dir) / "broken"
    d.mkdir()
    (d / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "task_type": "CAUSAL_LM"})
    )
    (d / "adapter_model.safetensors").write_bytes(b"this is not a safetensors file")
    (d / "manifest.json").write_text(json.dumps({"name": "broken"}))
    try:
        r = client.post("/v1/generate", json={"requests": [{"prompt": "x", "adapter": "broken", "max_tokens": 2}]})
        body = assert_problem(r, 500, "engine_error")
        assert "broken" in body["detail"]
        assert client.get("/healthz").json() == {"status": "ok"}
        ok = client.post("/v1/generate", json={"requests": [{"prompt": "still alive", "max_tokens": 2}]})
        assert ok.status_code == 200
    finally:
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
