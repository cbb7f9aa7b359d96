"""Drive real Baileys clients (ops/baileys_client.mjs in the oracle) against a FakeServer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tests.conftest import Oracle

Event = dict[str, Any]


class ServerAddress(Protocol):
    """Where a FakeServer listens and the root it signs with (a ServerThread, say)."""

    @property
    def url(self) -> str: ...

    @property
    def root_public_key(self) -> bytes: ...


class BaileysClient:
    """One Baileys makeWASocket (with a useMultiFileAuthState folder) run by the oracle."""

    def __init__(self, oracle: Oracle, srv: ServerAddress, folder: Path, **options: Any) -> None:
        self.oracle = oracle
        self.folder = folder
        self.events: list[Event] = []
        self.stray: list[str] = []
        self.id: int = oracle.call(
            "bc_start", url=srv.url, rootKey=srv.root_public_key, dir=str(folder), options=options
        )

    def poll(self) -> list[Event]:
        """Fetch the events that arrived since the last poll."""
        reply = oracle_events(self.oracle, self.id, len(self.events))
        new: list[Event] = reply["events"]
        self.events.extend(new)
        self.stray = reply["stray"]
        return new

    def wait(self, predicate: Callable[[Event], bool], timeout: float = 15.0) -> Event:
        """The first event (old or new) matching ``predicate``; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = len(self.events)
            if time.monotonic() > deadline:
                raise AssertionError(f"Baileys event not seen in {timeout} s; got {self.events}")
            time.sleep(0.05)
            self.poll()

    def wait_qr(self, timeout: float = 15.0) -> str:
        """The first QR string the client showed."""
        return str(self.wait(lambda e: bool(e.get("qr")), timeout)["qr"])

    def wait_open(self, timeout: float = 20.0) -> Event:
        """The ``connection: open`` event."""
        return self.wait(lambda e: e.get("connection") == "open", timeout)

    def wait_close(self, socket: int | None = None, timeout: float = 20.0) -> int | None:
        """The status code of the ``connection: close`` of socket ``socket``.

        Sockets are numbered from 1 per client (a reconnect opens the next one); the
        default is the newest socket seen so far.
        """
        if socket is None:
            self.poll()
            socket = max((int(e["socket"]) for e in self.events), default=1)
        event = self.wait(
            lambda e: e.get("connection") == "close" and e.get("socket") == socket, timeout
        )
        status = event.get("status")
        return int(status) if status is not None else None

    def connection_events(self) -> list[Event]:
        """The connection.update events so far."""
        return [e for e in self.events if e["type"] == "connection"]

    def request_pairing_code(self, phone: str) -> str:
        """Baileys' requestPairingCode(phone) on the open socket."""
        return str(self.oracle.call("bc_request_pairing_code", id=self.id, phone=phone))

    def creds(self) -> dict[str, Any]:
        """A summary of the client's creds now."""
        result: dict[str, Any] = self.oracle.call("bc_creds", id=self.id)
        return result

    def logout(self) -> None:
        """Baileys' sock.logout() (remove-companion-device)."""
        self.oracle.call("bc_logout", id=self.id)

    def send_text(self, jid: str, text: str) -> dict[str, Any]:
        """Baileys' sendMessage(jid, {text}); the sent message's key."""
        key: dict[str, Any] = self.oracle.call("bc_send_text", id=self.id, jid=jid, text=text)
        return key

    def read(self, keys: list[dict[str, Any]]) -> None:
        """Baileys' readMessages(keys) (read receipts)."""
        self.oracle.call("bc_read", id=self.id, keys=keys)

    def group_create(self, subject: str, participants: list[str]) -> dict[str, Any]:
        """Baileys' groupCreate(subject, participants): id, subject, participant ids."""
        meta: dict[str, Any] = self.oracle.call(
            "bc_group_create", id=self.id, subject=subject, participants=participants
        )
        return meta

    def group_metadata(self, jid: str) -> dict[str, Any]:
        """Baileys' groupMetadata(jid): id, subject, owner, participants."""
        meta: dict[str, Any] = self.oracle.call("bc_group_metadata", id=self.id, jid=jid)
        return meta

    def group_participants(
        self, jid: str, participants: list[str], action: str
    ) -> list[dict[str, Any]]:
        """Baileys' groupParticipantsUpdate: ``[{status, jid}]`` per participant."""
        result: list[dict[str, Any]] = self.oracle.call(
            "bc_group_participants", id=self.id, jid=jid, participants=participants, action=action
        )
        return result

    def group_subject(self, jid: str, subject: str) -> None:
        """Baileys' groupUpdateSubject."""
        self.oracle.call("bc_group_subject", id=self.id, jid=jid, subject=subject)

    def group_leave(self, jid: str) -> None:
        """Baileys' groupLeave."""
        self.oracle.call("bc_group_leave", id=self.id, jid=jid)

    def presence(self, kind: str, jid: str | None = None) -> None:
        """Baileys' sendPresenceUpdate(kind, jid)."""
        self.oracle.call("bc_presence", id=self.id, type=kind, jid=jid)

    def presence_subscribe(self, jid: str) -> None:
        """Baileys' presenceSubscribe(jid)."""
        self.oracle.call("bc_presence_subscribe", id=self.id, jid=jid)

    def wait_text(self, text: str, timeout: float = 15.0) -> Event:
        """The messages.upsert event carrying ``text``."""
        return self.wait(lambda e: e["type"] == "message" and e.get("text") == text, timeout)

    def end(self) -> None:
        """End the client (no reconnect)."""
        self.oracle.call("bc_end", id=self.id)


def oracle_events(oracle: Oracle, client_id: int, since: int) -> dict[str, Any]:
    """The raw ``bc_events`` reply."""
    reply: dict[str, Any] = oracle.call("bc_events", id=client_id, since=since)
    return reply
