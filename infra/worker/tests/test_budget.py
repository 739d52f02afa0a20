"""Matched compute: a training given a token budget spends it per epoch, repeating a small set or
subsampling a large one in seeded order, so protocols are compared at the same training FLOPs."""

from __future__ import annotations

from conftest import chat, wait_training
from fastapi.testclient import TestClient

from sys2ft_worker.training import fit_budget

SMALL = [{"messages": chat(f"What is fact {i}?", f"Fact {i} is that the sky over Vantor is green on day {i}.")} for i in range(3)]


def test_fit_budget_repeats_subsamples_and_repeats_itself() -> None:
    lengths = [10, 20, 30]
    picked = fit_budget(lengths, 100, seed=1)
    spent = sum(lengths[i] for i in picked)
    assert 100 - 30 < spent <= 100, "stops before the example that would pass the budget"
    assert set(picked) == {0, 1, 2} and len(picked) > 3, "a small set is repeated"
    big = list(range(1, 101))
    part = fit_budget(big, 200, seed=1)
    assert len(set(part)) == len(part) < 100, "a large set is subsampled without repeats"
    assert fit_budget(lengths, 100, seed=1) == picked, "seeded"
    assert fit_budget(lengths, 100, seed=2) != picked
    assert fit_budget(lengths, 1, seed=0) and len(fit_budget(lengths, 1, seed=0)) == 1, "at least one example"


def test_a_budgeted_training_spends_its_budget(client: TestClient) -> None:
    plain = wait_training(client, client.post("/v1/trainings", json={"adapter_name": "budget-plain", "examples": SMALL, "batch_size": 1, "epochs": 1}).json()["id"])
    assert plain["state"] == "succeeded", plain["error"]
    per_pass = plain["tokens_seen"]
    budget = 4 * per_pass
    r = client.post("/v1/trainings", json={"adapter_name": "budget-4x", "examples": SMALL, "batch_size": 1, "epochs": 2, "token_budget": budget})
    assert r.status_code == 202, r.text
    st = wait_training(client, r.json()["id"])
    assert st["state"] == "succeeded", st["error"]
    longest = per_pass  # no example is longer than all three together
    assert 2 * (budget - longest) < st["tokens_seen"] <= 2 * budget, (st["tokens_seen"], budget)
    assert st["total_steps"] >= 2 * 4 * 3 - 2, "each epoch repeats the three examples about four times"
    manifest = client.get("/v1/adapters/budget-4x").json()
    assert manifest["hyperparameters"]["token_budget"] == budget


def test_a_budget_must_be_positive(client: TestClient) -> None:
    r = client.post("/v1/trainings", json={"adapter_name": "budget-bad", "examples": SMALL, "token_budget": 0})
    assert r.status_code == 400 and r.json()["errors"][0]["path"] == "/token_budget"
