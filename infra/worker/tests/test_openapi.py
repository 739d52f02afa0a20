"""The committed OpenAPI document matches the app (regenerate: python -m sys2ft_worker.openapi --write)."""

from __future__ import annotations

import json

from sys2ft_worker.api import create_app
from sys2ft_worker.config import Settings, repo_root
from sys2ft_worker.openapi import render


def test_committed_openapi_is_current() -> None:
    committed = repo_root() / "openapi" / "worker.json"
    assert committed.is_file(), "run: python -m sys2ft_worker.openapi --write"
    assert json.loads(committed.read_text()) == create_app(Settings(model=None)).openapi()
    assert committed.read_text() == render(), "openapi/worker.json is stale: python -m sys2ft_worker.openapi --write"


def test_openapi_declares_the_contract() -> None:
    doc = create_app(Settings(model=None)).openapi()
    paths = doc["paths"]
    assert set(paths) == {
        "/healthz", "/v1/info", "/v1/generate", "/v1/score", "/v1/trainings", "/v1/trainings/{training_id}",
        "/v1/adapters", "/v1/adapters/{name}",
    }  # fmt: skip
    assert "202" in paths["/v1/trainings"]["post"]["responses"]
    assert "204" in paths["/v1/adapters/{name}"]["delete"]["responses"]
    assert "422" not in json.dumps(paths)
    assert "application/problem+json" in paths["/v1/generate"]["post"]["responses"]["400"]["content"]
