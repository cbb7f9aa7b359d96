"""The oracle itself: it starts, answers in order and reports errors."""

from __future__ import annotations

import pytest

from tests.conftest import Oracle, OracleError

pytestmark = pytest.mark.interop


def test_oracle_answers_ping(oracle: Oracle) -> None:
    assert oracle.call("ping") == "pong"


def test_oracle_reports_unknown_op_as_error(oracle: Oracle) -> None:
    with pytest.raises(OracleError, match="unknown op"):
        oracle.call("no_such_op")


def test_oracle_round_trips_bytes(oracle: Oracle) -> None:
    data = bytes(range(256))
    assert oracle.call("sha256", data=data) != data
    assert len(oracle.call("sha256", data=data)) == 32
