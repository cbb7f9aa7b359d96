"""The events a connection emits, and why a connection ended.

Every event is a small frozen dataclass; subscribe with ``conn.on(EventType, handler)`` or
iterate ``conn.events()``. Reprs never show key material: a :class:`CredsUpdate` shows
only the names of the changed fields, and the QR string and pairing code (which carry
linking secrets) are hidden from reprs but available as attributes.

:class:`DisconnectReason` and :func:`classify_disconnect` turn the status code of a
``<stream:error>``, a ``<failure>`` or a dropped socket into a reason and a decision to
reconnect or stop (protocol.md §5.4).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "AuthFailure",
    "Authenticated",
    "Connected",
    "CredsUpdate",
    "DisconnectReason",
    "Disconnected",
    "Event",
    "GroupMetadata",
    "GroupParticipant",
    "GroupParticipantsUpdate",
    "GroupUpdate",
    "GroupUpsert",
    "LoggedOut",
    "Message",
    "PairingCode",
    "QRCode",
    "Receipt",
    "RemoteSessionSaved",
    "classify_disconnect",
    "failure_status",
    "stream_error_status",
]


class DisconnectReason(enum.Enum):
    """Why a connection ended. ``status_code`` is the code WhatsApp uses for it."""

    RESTART_REQUIRED = "restart_required"
    """515: the server asks for a new connection (always right after linking)."""
    LOGGED_OUT = "logged_out"
    """401: the device was removed from the account; link it again."""
    CONNECTION_REPLACED = "connection_replaced"
    """440: another connection with the same creds took over."""
    BANNED = "banned"
    """402: the account is (temporarily) banned."""
    CLIENT_OUTDATED = "client_outdated"
    """405: the announced WhatsApp Web version is too old."""
    BAD_SESSION = "bad_session"
    """500: the server had trouble with this session (or sent no code)."""
    UNAVAILABLE = "unavailable"
    """503: the service is unavailable for now."""
    TIMED_OUT = "timed_out"
    """408: the connection was lost or timed out (keep-alive, handshake, QR refs)."""
    CONNECTION_CLOSED = "connection_closed"
    """428: the socket or stream was closed."""
    FORBIDDEN = "forbidden"
    """403: the account is locked, or its primary device is gone."""
    MULTIDEVICE_MISMATCH = "multidevice_mismatch"
    """411: the account's multi-device state does not allow this device."""
    UNKNOWN = "unknown"
    """A code wamd has no name for; ``status_code`` on the event says which."""

    @property
    def status_code(self) -> int | None:
        """The WhatsApp status code of this reason (None for UNKNOWN)."""
        return _CODE_OF.get(self)

    @property
    def reconnects(self) -> bool:
        """Whether a client should connect again after this reason (UNKNOWN: no)."""
        return self in _RECONNECT


_CODE_OF: Final[dict[DisconnectReason, int]] = {
    DisconnectReason.RESTART_REQUIRED: 515,
    DisconnectReason.LOGGED_OUT: 401,
    DisconnectReason.CONNECTION_REPLACED: 440,
    DisconnectReason.BANNED: 402,
    DisconnectReason.CLIENT_OUTDATED: 405,
    DisconnectReason.BAD_SESSION: 500,
    DisconnectReason.UNAVAILABLE: 503,
    DisconnectReason.TIMED_OUT: 408,
    DisconnectReason.CONNECTION_CLOSED: 428,
    DisconnectReason.FORBIDDEN: 403,
    DisconnectReason.MULTIDEVICE_MISMATCH: 411,
}
_REASON_OF: Final[dict[int, DisconnectReason]] = {code: r for r, code in _CODE_OF.items()}
_RECONNECT: Final = frozenset(
    {
        DisconnectReason.RESTART_REQUIRED,
        DisconnectReason.BAD_SESSION,
        DisconnectReason.UNAVAILABLE,
        DisconnectReason.TIMED_OUT,
        DisconnectReason.CONNECTION_CLOSED,
    }
)
_SERVER_ERRORS: Final = range(500, 600)


def classify_disconnect(status_code: int) -> tuple[DisconnectReason, bool]:
    """The reason for a status code and whether to reconnect after it.

    Reconnect after 515, 503, 500, 408 and 428; stop after 401, 440, 402, 405, 403 and
    411. A code with no name is UNKNOWN: reconnect if it is a 5xx server error, stop
    otherwise (a client error will not fix itself).
    """
    reason = _REASON_OF.get(status_code)
    if reason is None:
        return DisconnectReason.UNKNOWN, status_code in _SERVER_ERRORS
    return reason, reason.reconnects


def stream_error_status(code: str | None, first_child_tag: str | None = None) -> int:
    """The status code of a ``<stream:error>``: its ``code`` attribute if numeric, else
    440 for a ``<conflict>`` child (another connection replaced this one), else 500."""
    if code is not None and code.isascii() and code.isdigit():
        return int(code)
    if first_child_tag == "conflict":
        return 440
    return 500


def failure_status(reason: str | None) -> int:
    """The status code of a ``<failure reason=..>``: the reason if numeric, else 500."""
    if reason is not None and reason.isascii() and reason.isdigit():
        return int(reason)
    return 500


class Event:
    """Base class of every wamd event (for ``isinstance`` checks and type hints)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class QRCode(Event):
    """A QR code to show for linking: ``qr`` is the string to encode (see ``print_qr``).

    ``attempt`` counts from 1; ``expires_in`` is how many seconds this code stays valid.
    The repr hides ``qr`` (it carries the adv secret).
    """

    qr: str = field(repr=False)
    attempt: int
    expires_in: float


@dataclass(frozen=True, slots=True)
class PairingCode(Event):
    """The 8-character code to type on the phone (Linked devices → Link with phone number).

    The repr hides it; read ``code``.
    """

    code: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Authenticated(Event):
    """This device was just linked: ``me`` is its JID, ``platform`` the phone's platform.

    ``lid`` is its LID JID and ``business_name`` the account's business name, if any.
    """

    me: str
    platform: str | None
    lid: str | None = None
    business_name: str | None = None


@dataclass(frozen=True, slots=True)
class AuthFailure(Event):
    """Linking failed (bad pair-success, QR codes or time ran out, bad pairing code)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """Logged in and ready: messages can be sent and will be received."""


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    """The connection ended; ``will_reconnect`` says whether wamd connects again by itself.

    ``status_code`` is the code the server (or the transport) gave, if any.
    """

    reason: DisconnectReason
    status_code: int | None
    will_reconnect: bool


@dataclass(frozen=True, slots=True)
class LoggedOut(Event):
    """The account removed this device (or refuses it for good); link it again."""

    reason: DisconnectReason
    status_code: int | None = None


@dataclass(frozen=True, slots=True)
class CredsUpdate(Event):
    """The creds changed: ``changed`` names the fields, ``creds`` is the full new creds.

    Persist ``creds`` (``save_creds`` does). The repr shows only the changed names.
    """

    changed: frozenset[str]
    creds: object = field(repr=False)


@dataclass(frozen=True, slots=True)
class Message(Event):
    """A message arrived (or one we sent from another device was seen).

    ``chat`` is the conversation JID, ``sender`` the author's JID, ``text`` the plain
    text if the message has one, ``message`` the decoded message protobuf, ``received``
    the full :class:`wamd.messages.ReceivedMessage` it came from (LID/PN alternates,
    retry count, offline flag...).
    """

    id: str
    chat: str
    sender: str
    timestamp: int
    from_me: bool = False
    push_name: str | None = None
    text: str | None = None
    message: object = field(default=None, repr=False)
    received: object = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Receipt(Event):
    """A delivery, read or played receipt for the messages ``ids`` in ``chat``."""

    chat: str
    sender: str
    ids: tuple[str, ...]
    type: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class GroupParticipant:
    """A member of a group: ``jid`` as the group addresses it (LID or PN user JID).

    ``phone_number`` is the member's PN JID when the server gave it; ``admin`` is set
    for admins and the superadmin, ``superadmin`` for the group's owner.
    """

    jid: str
    phone_number: str | None = None
    admin: bool = False
    superadmin: bool = False


@dataclass(frozen=True, slots=True)
class GroupMetadata:
    """What a group is: id, subject, creator, creation time, addressing mode, members.

    ``id`` is the group JID (``…@g.us``), ``creation`` and ``subject_time`` are Unix
    seconds, ``addressing_mode`` is ``"lid"`` or ``"pn"``.
    """

    id: str
    subject: str
    creator: str | None
    creation: int
    addressing_mode: str
    participants: tuple[GroupParticipant, ...]
    subject_owner: str | None = None
    subject_time: int | None = None
    creator_pn: str | None = None

    @property
    def member_jids(self) -> tuple[str, ...]:
        """The members' JIDs, in the group's order."""
        return tuple(p.jid for p in self.participants)

    def participant(self, jid: str) -> GroupParticipant | None:
        """The member whose JID or phone-number JID is ``jid``, or None."""
        for member in self.participants:
            if jid in (member.jid, member.phone_number):
                return member
        return None


@dataclass(frozen=True, slots=True)
class GroupUpsert(Event):
    """A group we are in was created (or we learnt it whole): its full metadata."""

    metadata: GroupMetadata
    author: str | None = None


@dataclass(frozen=True, slots=True)
class GroupParticipantsUpdate(Event):
    """Members of ``group`` were added, removed, promoted or demoted, or left.

    ``action`` is ``add``, ``remove``, ``promote``, ``demote`` or ``leave``; ``author``
    is who did it (the member itself for ``leave``); ``timestamp`` is Unix seconds.
    """

    group: str
    action: str
    participants: tuple[GroupParticipant, ...]
    author: str | None
    timestamp: int


@dataclass(frozen=True, slots=True)
class GroupUpdate(Event):
    """Something else about ``group`` changed: ``kind`` names it (``subject``,
    ``description``, ``announcement``, ``locked``, ``ephemeral``...).

    ``subject`` is the new subject for ``kind == "subject"``.
    """

    group: str
    kind: str
    author: str | None
    timestamp: int
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteSessionSaved(Event):
    """The auth state was written to its remote store (PostgreSQL, Redis)."""

    client_id: str
    backend: str
