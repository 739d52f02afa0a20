"""hf vs vllm on the same tiny model (float32): greedy generation, scores on both strategies, and
the prefix cache really read by shared_prefix scoring."""

from __future__ import annotations

from typing import Any

import pytest

from sys2ft_worker.protocol import GenerateRequestItem, ScoreItem

TOL = 1e-3  # float32 on both sides; the kernels differ (vLLM's CPU attention vs torch sdpa)
LONG = " ".join(["The weather today is sunny with a light wind from the west."] * 20)  # > one 128-token KV block


def _gen(**kw: Any) -> GenerateRequestItem:
    return GenerateRequestItem(**{"temperature": 0.0, "max_tokens": 12, **kw})


PROMPTS = [
    _gen(messages=[{"role": "user", "content": "What is the capital of France?"}]),
    _gen(prompt="The quick brown fox"),
    _gen(prompt=LONG),
    _gen(messages=[{"role": "user", "content": "Numbers: one two three"}], max_tokens=4),
]

ITEMS = [
    # letters after a shared reply start: one forward pass over the context for all four
    ScoreItem(
        messages=[{"role": "user", "content": "Which is a planet? A) fish B) Mars C) ten D) blue"}],
        prefix="The answer is",
        continuations=[" A", " B", " C", " D"],
    ),
    # multi-token options, a long context (the prefix cache holds whole 128-token blocks)
    ScoreItem(prompt=LONG, continuations=[" Tomorrow it may rain.", " The capital of France is Paris.", ""]),
    # two options sharing more than one KV block past the context: the uncached re-run
    ScoreItem(prompt="Question:", continuations=[LONG + " yes", LONG + " no"]),
]


def test_greedy_generation_matches_hf(worker: Any, hf: Any) -> None:
    got = worker.engine.generate(PROMPTS)
    want = hf.generate(PROMPTS)
    for g, w in zip(got, want):
        assert g.prompt_tokens == w.prompt_tokens
        assert [c.text for c in g.completions] == [c.text for c in w.completions]
        assert g.completions[0].completion_tokens == w.completions[0].completion_tokens
    assert any(c.text for r in got for c in r.completions)  # not all empty


@pytest.mark.parametrize("strategy", ["shared_prefix", "per_sequence"])
def test_scores_match_hf(worker: Any, hf: Any, strategy: str) -> None:
    got = worker.engine.score(ITEMS, strategy)
    want = hf.score(ITEMS, "per_sequence")
    for g, w in zip(got, want):
        for gs, ws in zip(g.scores, w.scores):
            assert gs.tokens == ws.tokens
            assert gs.logprob == pytest.approx(ws.logprob, abs=TOL * max(1, ws.tokens))
    letters = [s.logprob for s in got[0].scores]
    assert len(set(round(x, 4) for x in letters)) > 1  # a real distribution, not a constant
    assert got[1].scores[2].logprob == 0.0 and got[1].scores[2].tokens == 0


def test_shared_prefix_reads_the_prefix_cache_and_per_sequence_does_not(worker: Any) -> None:
    engine = worker.engine
    item = [ScoreItem(prompt=LONG + " Question 7:", continuations=[" rain today", " sun today", " wind"])]
    before = engine.prefix_cached_tokens
    engine.score(item, "per_sequence")
    assert engine.prefix_cached_tokens == before
    engine.score(item, "shared_prefix")
    assert engine.prefix_cached_tokens >= 2 * 128  # two continuations of >1 token read >= one block each


def test_a_cache_hit_inside_a_continuation_is_rescored_without_the_cache(worker: Any, hf: Any) -> None:
    engine = worker.engine
    item = [ScoreItem(prompt="Answer:", continuations=[LONG + " maybe", LONG + " never"])]
    first = engine.score(item)  # fills the cache with blocks of the continuations themselves
    before = engine.uncached_rescores
    again = engine.score(item)
    assert engine.uncached_rescores == before + 2
    want = hf.score(item, "per_sequence")[0].scores
    for a, b, w in zip(first[0].scores, again[0].scores, want):
        assert a.logprob == pytest.approx(w.logprob, abs=TOL * w.tokens)
        assert b.logprob == pytest.approx(w.logprob, abs=TOL * w.tokens)


def test_top_logprobs_match_hf(worker: Any, hf: Any) -> None:
    """The vllm engine's token trace (context distillation) agrees with the hf engine's."""
    reqs = [p.model_copy(update={"top_logprobs": 3, "max_tokens": 6}) for p in PROMPTS[:1]]
    got = worker.engine.generate(reqs)[0].completions[0]
    want = hf.generate(reqs)[0].completions[0]
    assert got.tokens and want.tokens and len(got.tokens) == len(want.tokens)
    for g, w in zip(got.tokens, want.tokens):
        assert g.id == w.id == g.top[0][0]
        assert abs(g.logprob - w.logprob) < 2e-2
        assert [t for t, _ in g.top[:2]] == [t for t, _ in w.top[:2]]
