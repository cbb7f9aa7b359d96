"""The fault knobs themselves (pure bookkeeping)."""

from __future__ import annotations

from wamd.testing import Faults, Step


def test_drop_after_is_consumed_once_per_time() -> None:
    faults = Faults()
    faults.drop_after(Step.SUCCESS, times=2)
    assert [faults.take_drop(Step.SUCCESS) for _ in range(3)] == [True, True, False]
    assert not faults.take_drop(Step.HANDSHAKE)


def test_login_failures_match_by_account_and_device_and_count_down() -> None:
    faults = Faults()
    faults.fail_login(403, phone_number="1555", device=2, times=1, attrs={"x": "y"})
    faults.fail_login(503, times=None)
    assert faults.take_login_failure("1555", 1) is not None  # the catch-all 503
    first = faults.take_login_failure("1555", 2)
    assert first is not None and first.reason == 403 and first.attrs == (("x", "y"),)
    again = faults.take_login_failure("1555", 2)
    assert again is not None and again.reason == 503  # the 403 was used up; 503 stays
    assert faults.take_login_failure("1999", 7) is not None


def test_clear_turns_everything_off() -> None:
    faults = Faults(answer_pings=False, silent=True, min_version=(2, 0, 0))
    faults.drop_after(Step.PAIR_DEVICE)
    faults.fail_login(401)
    faults.unanswered.add("passive")
    faults.clear()
    assert faults.answer_pings and not faults.silent and faults.min_version is None
    assert not faults.take_drop(Step.PAIR_DEVICE)
    assert faults.take_login_failure("1", 1) is None
    assert faults.unanswered == set()
