"""Closing a connection while stanzas are in flight reports nothing to asyncio.

Regression (found by the many-accounts soak test): a send or query registers the future
its answer will resolve, then writes its stanza. If the connection closed during that
write, the close failed the future and the write raised; the owner never awaited the
future, so asyncio logged "Future exception was never retrieved" at ERROR for every
stanza in flight (42 of them when 500 accounts closed mid-send).
"""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

import wamd
from tests.integration.client_helpers import link_by_qr, server_kwargs
from wamd.testing import FakeServer


async def test_an_answer_failed_by_the_close_is_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    async with FakeServer() as srv:
        auth = await wamd.memory_auth_state()
        await link_by_qr(srv, auth)
        conn = await wamd.connect(auth, **server_kwargs(srv))
        await conn.wait_connected(10)
        future = conn.expect_answer("in-flight")  # as a send does before its write
        await conn.close()  # ... and the write fails: the owner never awaits the future
        assert future.done() and not future.cancelled()
        conn.drop_answer("in-flight", future)
        del future
        gc.collect()
        await asyncio.sleep(0)  # the loop's exception handler runs on the loop
    unretrieved = [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert unretrieved == []
