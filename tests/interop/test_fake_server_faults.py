"""Faults of wamd.testing.FakeServer, seen by real Baileys clients.

Each fault must end the Baileys connection with the status code fake-server.md §4.3,
§4.4 and §6 give (the same codes Baileys gets from WhatsApp).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Oracle
from tests.interop.fake_server_driver import BaileysClient
from wamd.testing import ChainDefect, FakeServer, PairSuccessDefect, ServerThread, Step

pytestmark = pytest.mark.interop

PHONE = "15550001111"


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    with FakeServer.start_in_thread() as thread:
        yield thread


@pytest.fixture
def baileys(oracle: Oracle, srv: ServerThread) -> Iterator[Callable[..., BaileysClient]]:
    def start(folder: Path, **options: Any) -> BaileysClient:
        return BaileysClient(oracle, srv, folder, **options)

    yield start
    oracle.call("bc_end_all")


@pytest.fixture
def paired(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> BaileysClient:
    """A Baileys client linked to PHONE as device 1 and logged in (connection open)."""
    client = baileys(tmp_path / "auth")
    phone = srv.call(lambda: srv.server.phone(PHONE))
    srv.run(phone.scan(client.wait_qr()))
    client.wait_open()
    return client


def restart(
    srv: ServerThread, client: BaileysClient, baileys: Callable[..., BaileysClient]
) -> BaileysClient:
    """End ``client`` and start a new one from its folder."""
    client.end()
    srv.wait_for(lambda: srv.server.connection_of(PHONE, 1) is None)
    return baileys(client.folder)


@pytest.mark.parametrize(
    ("reason", "attrs"),
    [(401, {}), (403, {"logout_message_header": "gone"}), (402, {"code": "1", "expire": "60"})],
)
def test_login_failure_reaches_baileys_as_its_status(
    srv: ServerThread,
    paired: BaileysClient,
    baileys: Callable[..., BaileysClient],
    reason: int,
    attrs: dict[str, str],
) -> None:
    srv.call(lambda: srv.server.faults.fail_login(reason, phone_number=PHONE, attrs=attrs))
    again = restart(srv, paired, baileys)
    assert again.wait_close() == reason
    assert not any(e.get("connection") == "open" for e in again.events)
    assert srv.call(lambda: srv.server.logins[-1].outcome) == f"failure {reason}"


def test_outdated_version_gets_405(
    srv: ServerThread, paired: BaileysClient, baileys: Callable[..., BaileysClient]
) -> None:
    srv.call(lambda: setattr(srv.server.faults, "min_version", (2, 3000, 2_000_000_000)))
    again = restart(srv, paired, baileys)
    assert again.wait_close() == 405


def test_second_login_replaces_the_first_with_440(
    srv: ServerThread, paired: BaileysClient, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(paired.folder, copy)
    twin = baileys(copy)
    twin.wait_open()
    assert paired.wait_close() == 440
    conn = srv.call(lambda: srv.server.connection_of(PHONE, 1))
    assert conn is not None and conn.id == srv.call(lambda: srv.server.connections[-1].id)


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"code": 503}, 503),
        ({"code": None, "conflict": "replaced"}, 440),
        ({"code": 401, "conflict": "device_removed"}, 401),
        ({"code": None}, 500),
    ],
)
def test_stream_errors_reach_baileys_as_their_status(
    srv: ServerThread, paired: BaileysClient, kwargs: dict[str, Any], status: int
) -> None:
    assert srv.run(srv.server.send_stream_error(PHONE, 1, **kwargs))
    assert paired.wait_close() == status


def test_stream_error_515_makes_baileys_reconnect_and_log_in(
    srv: ServerThread, paired: BaileysClient
) -> None:
    sockets = paired.events[-1]["socket"]
    assert srv.run(srv.server.send_stream_error(PHONE, 1, code=515))
    assert paired.wait_close(socket=sockets) == 515
    paired.wait(lambda e: e.get("connection") == "open" and e["socket"] == sockets + 1)
    device = srv.call(lambda: srv.server.devices(PHONE)[1])
    assert device.logged_in_count == 2


def test_xmlstreamend_and_dropped_socket_give_428(
    srv: ServerThread, paired: BaileysClient, baileys: Callable[..., BaileysClient]
) -> None:
    assert srv.run(srv.server.send_xmlstreamend(PHONE, 1))
    assert paired.wait_close() == 428
    again = restart(srv, paired, baileys)
    again.wait_open()
    assert srv.run(srv.server.drop(PHONE, 1))
    assert again.wait_close() == 428


def test_phone_unlink_sends_401_and_refuses_the_next_login(
    srv: ServerThread, paired: BaileysClient, baileys: Callable[..., BaileysClient]
) -> None:
    phone = srv.call(lambda: srv.server.phone(PHONE))
    assert srv.run(phone.unlink(1))
    assert paired.wait_close() == 401
    again = baileys(paired.folder)
    assert again.wait_close() == 401


def test_unanswered_pings_make_baileys_close_408(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    client = baileys(tmp_path / "auth", keepAliveIntervalMs=1000)
    srv.run(srv.call(lambda: srv.server.phone(PHONE)).scan(client.wait_qr()))
    client.wait_open()
    srv.call(lambda: setattr(srv.server.faults, "answer_pings", False))
    assert client.wait_close(timeout=20) == 408


@pytest.mark.parametrize(
    "step", [Step.CLIENT_HELLO, Step.SERVER_HELLO, Step.HANDSHAKE, Step.PAIR_DEVICE]
)
def test_dropped_registration_connection_gives_428(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path, step: Step
) -> None:
    srv.call(lambda: srv.server.faults.drop_after(step))
    client = baileys(tmp_path / "auth")
    assert client.wait_close() == 428


def test_drop_after_pair_success_leaves_no_device(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    srv.call(lambda: srv.server.faults.drop_after(Step.PAIR_SUCCESS))
    client = baileys(tmp_path / "auth")
    phone = srv.call(lambda: srv.server.phone(PHONE))
    srv.run(phone.scan(client.wait_qr()))
    assert client.wait_close() == 428
    assert phone.devices == {}


def test_drop_after_success_then_restart_logs_in(
    srv: ServerThread, paired: BaileysClient, baileys: Callable[..., BaileysClient]
) -> None:
    srv.call(lambda: srv.server.faults.drop_after(Step.SUCCESS))
    again = restart(srv, paired, baileys)
    assert again.wait_close() == 428
    third = restart(srv, again, baileys)
    third.wait_open()


def test_qr_refs_run_out_with_408(
    oracle: Oracle, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    with FakeServer.start_in_thread(pair_refs=2) as srv2:
        client = BaileysClient(oracle, srv2, tmp_path / "auth", qrTimeout=400)
        assert client.wait_close() == 408
        qrs = [e["qr"] for e in client.events if e.get("qr")]
        conn = srv2.call(lambda: srv2.server.connections[0])
        assert [q.split("#")[1].split(",")[0] for q in qrs] == conn.refs


@pytest.mark.parametrize("defect", [ChainDefect.BAD_ISSUER_SERIAL, ChainDefect.SHORT_SIGNATURE])
def test_chain_defects_baileys_checks_close_400(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path, defect: ChainDefect
) -> None:
    srv.call(lambda: setattr(srv.server.faults, "chain", defect))
    client = baileys(tmp_path / "auth")
    assert client.wait_close() == 400


def test_pair_success_with_bad_hmac_is_refused_by_baileys(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    client = baileys(tmp_path / "auth")
    phone = srv.call(lambda: srv.server.phone(PHONE))
    srv.run(phone.scan(client.wait_qr(), defect=PairSuccessDefect.BAD_HMAC))
    assert client.wait_close() == 500  # "Invalid account signature"
    srv.wait_for(lambda: srv.server.pairing_failures)
    assert srv.call(lambda: [f.check for f in srv.server.pairing_failures]) == ["client-closed"]
    assert phone.devices == {}
