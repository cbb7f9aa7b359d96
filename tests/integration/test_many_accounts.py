"""Many accounts in one process under messaging load: the CRM / gateway use case.

N accounts (``WAMD_SOAK_ACCOUNTS``, default 40) are linked through one FakeServer, all but
a few into ONE native SQLite file (one ``client_id`` each); one account lives in a Baileys
folder and one each in Redis and PostgreSQL when ``tests/servers.py`` can start them.
All connect at once in this event loop and message each other concurrently: a ring plus
random pairs (fixed seed), then a reply to every sender. Every message must be decrypted
exactly once by its recipient with the right text and sender, every send acked, every
message answered by a delivery receipt, with no error event and no warning from the
``wamd`` logger. Then everything is closed, reopened from the same stores without a QR,
and a second round in both directions must run on the existing sessions: no key fetch,
and only ``msg`` (never ``pkmsg``) reaches the linked devices. Half the accounts come
back (and send) before the other half, so part of that round waits in offline queues.
Last, ten of the accounts share a group: one send reaches every member, then all of them
send at once.

Run bigger by hand: ``WAMD_SOAK_ACCOUNTS=200 .venv/bin/python -m pytest -s
tests/integration/test_many_accounts.py`` (prints what ran).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import wamd
from tests.integration.client_helpers import Recorder, link_by_qr, server_kwargs
from tests.servers import ServerUnavailable, postgres_server, redis_server
from wamd.binary import Node
from wamd.testing import FakeServer

ACCOUNTS = int(os.environ.get("WAMD_SOAK_ACCOUNTS", "40"))
SEED = 20261125
RANDOM_TARGETS = 2  # per account, on top of its ring neighbour
PER_PAIR = 2  # messages each sender sends to each of its targets
GROUP_SIZE = 10
WAIT = 30.0 + ACCOUNTS * 0.5  # bound for each phase's deliveries
LINK_CONCURRENCY = 8

# Events that must never appear during the soak.
BAD_EVENTS = (wamd.Disconnected, wamd.LoggedOut, wamd.AuthFailure, wamd.QRCode)


@dataclass
class Account:
    """One account of the soak: where its state lives and its current connection."""

    index: int
    number: str
    store: str
    open_store: Callable[[], Awaitable[wamd.AuthHandle]]
    handle: wamd.AuthHandle | None = None
    conn: wamd.Connection | None = None
    events: Recorder = field(default_factory=Recorder)

    @property
    def pn(self) -> str:
        return f"{self.number}@s.whatsapp.net"

    @property
    def device_jid(self) -> str:
        return f"{self.number}:1@s.whatsapp.net"

    def connection(self) -> wamd.Connection:
        assert self.conn is not None, f"account {self.index} is not connected"
        return self.conn


@dataclass(frozen=True, slots=True)
class Sent:
    """One message a test sent: who to whom, its text and the id the server acked."""

    sender: Account
    recipient: Account
    text: str
    msg_id: str


async def wait_until(what: str, ready: Callable[[], bool], timeout: float) -> None:
    """Poll ``ready`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not ready():
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def remote_stores() -> list[tuple[str, Callable[[str], Awaitable[wamd.AuthHandle]]]]:
    """The Redis and PostgreSQL openers this machine can run (CI must run both)."""
    stores: list[tuple[str, Callable[[str], Awaitable[wamd.AuthHandle]]]] = []
    try:
        stores.append(("redis", _remote(wamd.auth.use_redis_auth_state, redis_server().url)))
    except ServerUnavailable:
        if os.environ.get("CI"):
            raise
    try:
        dsn = postgres_server().dsn
        stores.append(("postgres", _remote(wamd.auth.use_postgres_auth_state, dsn)))
    except ServerUnavailable:
        if os.environ.get("CI"):
            raise
    return stores


def _remote(
    open_fn: Callable[[str, str], Awaitable[wamd.AuthHandle]], where: str
) -> Callable[[str], Awaitable[wamd.AuthHandle]]:
    return lambda client_id: open_fn(where, client_id)


def make_accounts(count: int, tmp_path: Path) -> list[Account]:
    """``count`` accounts: a Baileys folder, the remote stores, the rest in one SQLite file."""
    native = tmp_path / "accounts.db"
    run_id = f"soak-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    remotes = remote_stores()
    accounts: list[Account] = []
    for i in range(count):
        number = f"1556{i:07d}"
        if i == 1:
            folder = tmp_path / "baileys-auth"
            opener = _opener(wamd.use_multi_file_auth_state, folder)
            accounts.append(Account(i, number, "baileys", opener))
        elif 2 <= i < 2 + len(remotes):
            name, open_remote = remotes[i - 2]
            accounts.append(Account(i, number, name, _opener(open_remote, f"{run_id}-{i}")))
        else:
            opener = _native_opener(native, f"account-{i}")
            accounts.append(Account(i, number, "native", opener))
    return accounts


def _opener(
    open_fn: Callable[..., Awaitable[wamd.AuthHandle]], arg: object
) -> Callable[[], Awaitable[wamd.AuthHandle]]:
    return lambda: open_fn(arg)


def _native_opener(path: Path, client_id: str) -> Callable[[], Awaitable[wamd.AuthHandle]]:
    return lambda: wamd.use_native_file_auth_state(path, client_id=client_id)


def plan_pairs(count: int, seed: int) -> list[tuple[int, int]]:
    """Directed (sender, recipient) pairs: the ring plus random others, no self, no repeats."""
    rng = random.Random(seed)
    pairs: list[tuple[int, int]] = []
    for i in range(count):
        targets = {(i + 1) % count}
        while len(targets) < 1 + RANDOM_TARGETS:
            j = rng.randrange(count)
            if j != i:
                targets.add(j)
        pairs.extend((i, j) for j in sorted(targets))
    return pairs


async def link_all(srv: FakeServer, accounts: list[Account]) -> None:
    """Open every store and link it by QR (a few at a time); connections closed again."""
    gate = asyncio.Semaphore(LINK_CONCURRENCY)

    async def link(account: Account) -> None:
        async with gate:
            srv.phone(account.number, push_name=f"Account {account.index}")
            account.handle = await account.open_store()
            await link_by_qr(srv, account.handle, account.number)

    await asyncio.gather(*(link(a) for a in accounts))


async def connect_all(srv: FakeServer, accounts: list[Account]) -> None:
    """Connect every account at once (no QR allowed) and wait until all are logged in."""
    shown: list[str] = []

    async def start(account: Account) -> None:
        assert account.handle is not None
        account.events = Recorder()
        conn = await wamd.connect(account.handle, on_qr=shown.append, **server_kwargs(srv))
        conn.on(wamd.Event, account.events)
        account.conn = conn
        await conn.wait_connected(WAIT)

    await asyncio.gather(*(start(a) for a in accounts))
    assert shown == [], "a linked account was shown a QR code"


async def close_all(accounts: list[Account]) -> None:
    """Close every connection, then every store."""
    await asyncio.gather(*(a.connection().close() for a in accounts if a.conn is not None))
    for account in accounts:
        account.conn = None
    await asyncio.gather(*(a.handle.close() for a in accounts if a.handle is not None))
    for account in accounts:
        account.handle = None


async def send_all(pairs: Iterable[tuple[Account, Account]], label: str) -> list[Sent]:
    """Send ``PER_PAIR`` texts along every pair, all concurrently; every send must be acked."""

    async def one(sender: Account, recipient: Account, k: int) -> Sent:
        text = f"{label} {sender.index}->{recipient.index} #{k}"
        msg_id = await sender.connection().send_text(recipient.pn, text)
        return Sent(sender, recipient, text, msg_id)

    jobs = [one(s, r, k) for s, r in pairs for k in range(PER_PAIR)]
    sent = await asyncio.gather(*jobs)
    assert all(s.msg_id for s in sent)
    assert len({s.msg_id for s in sent}) == len(sent), "two sends got the same id"
    return sent


def incoming(account: Account) -> list[wamd.Message]:
    return [m for m in account.events.of(wamd.Message) if not m.from_me]


def delivered_ids(account: Account) -> set[str]:
    return {i for r in account.events.of(wamd.Receipt) if r.type == "delivery" for i in r.ids}


async def check_round(accounts: list[Account], sent: list[Sent], label: str) -> None:
    """Every message decrypted once, right text and sender; every sender got its receipt."""
    want = {s.msg_id: s for s in sent}

    def arrived() -> bool:
        got = {m.id for a in accounts for m in incoming(a)}
        return want.keys() <= got

    await wait_until(f"{label}: all {len(sent)} messages decrypted", arrived, WAIT)
    for account in accounts:
        mine = [m for m in incoming(account) if m.id in want]
        ids = [m.id for m in mine]
        assert len(ids) == len(set(ids)), f"account {account.index} got a message twice"
        for message in mine:
            expected = want[message.id]
            assert expected.recipient is account, f"{message.id} reached the wrong account"
            assert message.text == expected.text
            assert message.sender == expected.sender.device_jid
            assert message.chat == expected.sender.pn
            assert message.push_name == f"Account {expected.sender.index}"

    def receipted() -> bool:
        return all(s.msg_id in delivered_ids(s.sender) for s in sent)

    await wait_until(f"{label}: delivery receipts for all {len(sent)} messages", receipted, WAIT)


def assert_quiet(accounts: list[Account], caplog: pytest.LogCaptureFixture) -> None:
    """No error event on any connection, no retry receipt, no warning from wamd or asyncio."""
    for account in accounts:
        bad = [e for e in account.events.events if isinstance(e, BAD_EVENTS)]
        assert bad == [], f"account {account.index} ({account.store}): {bad}"
        retries = [r for r in account.events.of(wamd.Receipt) if r.type == "retry"]
        assert retries == [], f"account {account.index} was asked to resend: {retries}"
    warnings = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith(("wamd", "asyncio")) and r.levelno >= logging.WARNING
    ]
    assert warnings == []


def iqs_sent(srv: FakeServer, xmlns: str, child: str) -> int:
    """How many iqs of ``xmlns`` with a ``child`` element the clients sent."""
    return sum(
        1
        for conn in srv.connections
        for entry in conn.transcript
        if entry.direction == "in"
        and entry.node.tag == "iq"
        and entry.node.attrs.get("xmlns") == xmlns
        and entry.node.get_child(child) is not None
    )


def key_fetches(srv: FakeServer) -> int:
    """How many pre-key bundle fetches (``encrypt`` iqs with ``<key>``) clients sent."""
    return iqs_sent(srv, "encrypt", "key")


def offline_deliveries(srv: FakeServer) -> int:
    """How many messages the server queued for a linked device that was offline."""
    return sum(
        1
        for d in srv.messaging.deliveries
        if d.node.tag == "message" and d.device == 1 and d.how == "queued"
    )


def enc_types_to_companions(srv: FakeServer, sent: list[Sent]) -> dict[str, int]:
    """How often each enc type reached a recipient's linked device (device 1)."""
    wanted = {(s.msg_id, s.recipient.number) for s in sent}
    counts: dict[str, int] = {}
    for d in srv.messaging.deliveries:
        node: Node = d.node
        key = (node.attrs.get("id", ""), d.phone_number)
        if node.tag != "message" or d.device != 1 or key not in wanted:
            continue
        for enc in node.children("enc"):
            counts[enc.attrs["type"]] = counts.get(enc.attrs["type"], 0) + 1
    return counts


def replies_for(sent: list[Sent]) -> list[tuple[Account, Account]]:
    """One reply pair per distinct (recipient → sender) of ``sent``."""
    seen: dict[tuple[int, int], tuple[Account, Account]] = {}
    for s in sent:
        seen.setdefault((s.recipient.index, s.sender.index), (s.recipient, s.sender))
    return list(seen.values())


async def group_round(srv: FakeServer, members: list[Account]) -> int:
    """A group of ``members``: one send reaches every other member, then all send at once.

    Returns how many group messages were decrypted in all.
    """
    creator, *others = members
    group = srv.groups.create(
        srv.accounts[creator.number], "soak group", [srv.accounts[m.number] for m in others]
    )
    first = await creator.connection().send_text(group.jid, "one send, every member")
    await check_group(srv, members, group.jid, {first: (creator, "one send, every member")})
    # every member at once: each distributes its sender key to all the others concurrently
    texts = {m.index: f"group from {m.index}" for m in members}
    ids = await asyncio.gather(
        *(m.connection().send_text(group.jid, texts[m.index]) for m in members)
    )
    burst = {msg_id: (m, texts[m.index]) for m, msg_id in zip(members, ids, strict=True)}
    await check_group(srv, members, group.jid, burst)
    return (1 + len(burst)) * len(others)


async def check_group(
    srv: FakeServer, members: list[Account], group: str, sent: dict[str, tuple[Account, str]]
) -> None:
    """Each of ``sent`` decrypted exactly once by every member but its sender."""

    def everyone() -> bool:
        return all(
            any(m.id == msg_id for m in incoming(member))
            for msg_id, (sender, _) in sent.items()
            for member in members
            if member is not sender
        )

    await wait_until(f"{len(sent)} group message(s) at every member", everyone, WAIT)
    for msg_id, (sender, text) in sent.items():
        lid_sender = srv.accounts[sender.number].lid_jid(1)
        for member in members:
            got = [m for m in incoming(member) if m.id == msg_id]
            if member is sender:
                assert got == [], "a sender decrypted its own group message"
                continue
            assert len(got) == 1, f"member {member.index} got {msg_id} {len(got)} times"
            assert got[0].text == text and got[0].chat == group
            assert got[0].sender == lid_sender


def assert_nothing_else(accounts: list[Account], expected: int) -> None:
    """No account decrypted anything the test did not send."""
    total = sum(len(incoming(a)) for a in accounts)
    assert total == expected, f"{total} messages decrypted, {expected} sent"


async def test_many_accounts_in_one_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wamd")
    caplog.set_level(logging.WARNING, logger="asyncio")
    count = max(ACCOUNTS, GROUP_SIZE)
    accounts = make_accounts(count, tmp_path)
    plan = plan_pairs(count, SEED)
    assert any((j, i) in plan for i, j in plan)  # some pairs begin their sessions both ways
    pairs = [(accounts[i], accounts[j]) for i, j in plan]
    started = time.perf_counter()
    async with FakeServer() as srv:
        try:
            await link_all(srv, accounts)
            linked_at = time.perf_counter()
            await connect_all(srv, accounts)

            first = await send_all(pairs, "r1")
            await check_round(accounts, first, "round 1")
            replies = await send_all(replies_for(first), "r1-reply")
            await check_round(accounts, replies, "round 1 replies")
            assert_quiet(accounts, caplog)
            assert_nothing_else(accounts, len(first) + len(replies))
            round_one_at = time.perf_counter()

            await close_all(accounts)
            for account in accounts:
                account.handle = await account.open_store()
            fetched_before = key_fetches(srv)
            usyncs_before = iqs_sent(srv, "usync", "usync")
            assert fetched_before > 0  # round 1 fetched the keys it began sessions with
            # at most one fetch per peer a sender began with, however many sends at once
            begun = {(s.sender.index, s.recipient.index) for s in first + replies}
            assert fetched_before <= len(begun)
            assert enc_types_to_companions(srv, first).get("pkmsg", 0) > 0
            # Half the accounts come back first and send; what they send to the other
            # half waits in the server's offline queues until those log in and send too.
            early = {a.index for a in accounts if a.index % 2 == 0}
            plan_two = pairs + replies_for(first)
            await connect_all(srv, [a for a in accounts if a.index in early])
            second = await send_all([p for p in plan_two if p[0].index in early], "r2")
            queued = offline_deliveries(srv)
            assert queued > 0
            await connect_all(srv, [a for a in accounts if a.index not in early])
            second += await send_all([p for p in plan_two if p[0].index not in early], "r2")
            await check_round(accounts, second, "round 2")
            assert key_fetches(srv) == fetched_before, "known peers' keys were fetched again"
            usyncs = iqs_sent(srv, "usync", "usync") - usyncs_before  # device lists: in memory
            assert enc_types_to_companions(srv, second) == {"msg": len(second)}
            group_received = await group_round(srv, accounts[:GROUP_SIZE])
            assert_quiet(accounts, caplog)
            assert_nothing_else(accounts, len(second) + group_received)
        finally:
            await close_all(accounts)
    ended = time.perf_counter()
    stores = sorted({a.store for a in accounts})
    total = len(first) + len(replies) + len(second)
    timing = (
        f"{fetched_before} key fetches for {len(begun)} peers, {queued} queued offline, "
        f"{usyncs} usync queries after the restart; "
        f"link {linked_at - started:.1f} s, "
        f"round 1 {round_one_at - linked_at:.1f} s, total {ended - started:.1f} s"
    )
    print(
        f"\nsoak: {count} accounts ({', '.join(stores)}), {total} direct messages + "
        f"{GROUP_SIZE + 1} group sends ({group_received} decrypted); {timing}"
    )
