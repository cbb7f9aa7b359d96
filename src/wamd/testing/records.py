"""What the fake server records for tests to assert on: transcripts and failures."""

from __future__ import annotations

from dataclasses import dataclass

from wamd.binary import Node

__all__ = ["HandshakeFailure", "IqError", "PairingFailure", "TranscriptEntry"]


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One stanza of a connection: ``direction`` is ``"in"`` (from the client) or ``"out"``."""

    direction: str
    node: Node


@dataclass(frozen=True, slots=True)
class HandshakeFailure:
    """A connection the server closed silently before any stanza could be sent.

    ``stage`` is ``intro``, ``client-hello``, ``client-finish``, ``payload`` or
    ``transport``; ``reason`` the error message.
    """

    connection_id: int
    stage: str
    reason: str


@dataclass(frozen=True, slots=True)
class IqError:
    """An iq the server answered with an error: its namespace, the code and the request."""

    connection_id: int
    xmlns: str
    code: int
    request: Node


@dataclass(frozen=True, slots=True)
class PairingFailure:
    """A linking attempt the server refused: ``check`` names what failed."""

    connection_id: int
    check: str
    reason: str
