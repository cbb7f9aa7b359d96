"""ReconnectPolicy: capped exponential backoff with jitter, and when to give up."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wamd.client import ReconnectPolicy
from wamd.errors import UsageError


def test_delays_grow_exponentially_then_cap() -> None:
    policy = ReconnectPolicy(initial=1.0, max_delay=10.0, factor=2.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


@given(
    attempt=st.integers(min_value=1, max_value=10_000),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jitter_only_shortens_within_its_share(attempt: int, jitter: float, seed: int) -> None:
    policy = ReconnectPolicy(initial=0.5, max_delay=30.0, factor=3.0, jitter=jitter)
    base = ReconnectPolicy(initial=0.5, max_delay=30.0, factor=3.0, jitter=0.0).delay(attempt)
    delay = policy.delay(attempt, random.Random(seed))
    assert base * (1 - jitter) - 1e-9 <= delay <= base + 1e-9


def test_jitter_spreads_clients() -> None:
    policy = ReconnectPolicy(initial=4.0, jitter=0.5)
    rng = random.Random(1)
    assert len({round(policy.delay(1, rng), 6) for _ in range(20)}) > 10


def test_gives_up_after_max_attempts_or_when_disabled() -> None:
    policy = ReconnectPolicy(max_attempts=3)
    assert [policy.gives_up(n) for n in (1, 3, 4)] == [False, False, True]
    assert not ReconnectPolicy().gives_up(10**6)
    assert ReconnectPolicy(enabled=False).gives_up(1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1.0},
        {"factor": 0.5},
        {"jitter": 1.5},
        {"max_attempts": -1},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        ReconnectPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempts_count_from_one() -> None:
    with pytest.raises(UsageError, match="from 1"):
        ReconnectPolicy().delay(0)
