"""ServerThread: start, stop and what it says when the server cannot start."""

from __future__ import annotations

import errno
import socket

import pytest

from wamd.errors import UsageError
from wamd.testing import ServerThread


def test_server_before_start_is_a_usage_error() -> None:
    thread = ServerThread()
    with pytest.raises(UsageError, match="call start"):
        _ = thread.server


def test_start_raises_the_servers_own_error_for_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        thread = ServerThread(port=port)
        with pytest.raises(OSError) as info:
            thread.start()
        assert info.value.errno == errno.EADDRINUSE
    thread.stop()  # nothing left to stop: returns at once
    assert not thread._thread.is_alive()
    assert thread._loop.is_closed()


def test_started_thread_serves_on_a_local_url_until_stopped() -> None:
    with ServerThread().start() as srv:
        assert srv.url.startswith("ws://127.0.0.1:")
        assert srv.call(lambda: len(srv.server.accounts)) == 0
    assert not srv._thread.is_alive()
