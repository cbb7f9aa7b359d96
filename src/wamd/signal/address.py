"""Signal addresses of WhatsApp devices, and sender-key names.

A device JID ``user[_agent][:device]@server`` maps to the Signal address
``name.device`` (protocol.md §6.2): ``name`` is the user for phone-number (PN) JIDs and
``user_<domain>`` otherwise, with domain 1 for LIDs (``@lid``), 128 for ``@hosted`` and 129
for ``@hosted.lid``. So ``15551234567:12@s.whatsapp.net`` is ``15551234567.12`` and
``987654321:3@lid`` is ``987654321_1.3``. That string is the ``session`` and
``identity-key`` id in the key store. A sender key is stored under
``<group JID>::<name>::<device>``.

The JID grammar is Baileys' ``jidDecode`` (protocol.md §3.6), parsed strictly: a JID
that Baileys would turn into a nonsense address (no user, a non-numeric device) is a
:class:`~wamd.errors.JidError` here.
"""

from __future__ import annotations

from dataclasses import dataclass

from wamd.errors import JidError

__all__ = [
    "DOMAIN_HOSTED",
    "DOMAIN_HOSTED_LID",
    "DOMAIN_LID",
    "DOMAIN_PN",
    "ProtocolAddress",
    "SenderKeyName",
    "parse_device_jid",
]

DOMAIN_PN = 0
DOMAIN_LID = 1
DOMAIN_HOSTED = 128
DOMAIN_HOSTED_LID = 129

HOSTED_DEVICE = 99
"""The device id reserved for hosted (business API) devices."""

_DOMAIN_OF_SERVER = {"lid": DOMAIN_LID, "hosted": DOMAIN_HOSTED, "hosted.lid": DOMAIN_HOSTED_LID}
_SERVER_OF_DOMAIN = {
    DOMAIN_PN: "s.whatsapp.net",
    DOMAIN_LID: "lid",
    DOMAIN_HOSTED: "hosted",
    DOMAIN_HOSTED_LID: "hosted.lid",
}
_MAX_DEVICE = 0xFFFF


def _number(text: str, what: str, jid: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise JidError(f"{what} {text!r} in JID {jid!r} is not a decimal number")
    return int(text)


def parse_device_jid(jid: str) -> tuple[str, int, int, str]:
    """``(user, domain_type, device, server)`` of a user or device JID (Baileys' rules)."""
    at = jid.find("@")
    if at < 0:
        raise JidError(f"{jid!r} is not a JID (no '@')")
    server = jid[at + 1 :]
    user_part = jid[:at]
    user_agent, colon, device_text = user_part.partition(":")
    user, underscore, agent = user_agent.partition("_")
    if not user:
        raise JidError(f"JID {jid!r} has no user")
    if not server:
        raise JidError(f"JID {jid!r} has no server")
    if ":" in device_text:
        raise JidError(f"JID {jid!r} has more than one ':'")
    device = _number(device_text, "device", jid) if colon else 0
    if device > _MAX_DEVICE:
        raise JidError(f"device {device} in JID {jid!r} is out of range")
    if server in _DOMAIN_OF_SERVER:
        domain = _DOMAIN_OF_SERVER[server]
    elif underscore:
        domain = _number(agent, "agent", jid)
        if domain > 255:
            raise JidError(f"agent {domain} in JID {jid!r} is out of range")
    else:
        domain = DOMAIN_PN
    return user, domain, device, server


@dataclass(frozen=True, slots=True)
class ProtocolAddress:
    """A Signal address: ``name`` (``user`` or ``user_<domain>``) and device number."""

    name: str
    device: int

    def __post_init__(self) -> None:
        if not self.name or "." in self.name or ":" in self.name:
            raise JidError(f"Signal address name {self.name!r} is empty or has '.' or ':'")
        if not 0 <= self.device <= _MAX_DEVICE:
            raise JidError(f"Signal address device {self.device} is out of range")

    def __str__(self) -> str:
        return f"{self.name}.{self.device}"

    @classmethod
    def from_jid(cls, jid: str) -> ProtocolAddress:
        """The address of a device JID (a user JID means device 0)."""
        user, domain, device, server = parse_device_jid(jid)
        if device == HOSTED_DEVICE and server not in ("hosted", "hosted.lid"):
            raise JidError(f"device 99 is only valid on hosted servers, not in {jid!r}")
        return cls(user if domain == DOMAIN_PN else f"{user}_{domain}", device)

    @classmethod
    def parse(cls, text: str) -> ProtocolAddress:
        """Parse the ``name.device`` string form."""
        name, dot, device = text.rpartition(".")
        if not dot:
            raise JidError(f"Signal address {text!r} has no '.device' part")
        return cls(name, _number(device, "device", text))

    @property
    def user(self) -> str:
        """The user part of the name (without the ``_<domain>`` suffix)."""
        return self.name.partition("_")[0]

    @property
    def domain(self) -> int:
        """The domain type: 0 PN, 1 LID, 128 hosted, 129 hosted LID (or an agent number)."""
        _, underscore, domain = self.name.partition("_")
        return int(domain) if underscore and domain.isdigit() else DOMAIN_PN

    @property
    def is_lid(self) -> bool:
        """True for LID (and hosted LID) addresses."""
        return self.domain in (DOMAIN_LID, DOMAIN_HOSTED_LID)

    def to_jid(self) -> str:
        """The device JID of this address (device 0 is left out, as WhatsApp writes it)."""
        server = _SERVER_OF_DOMAIN.get(self.domain)
        if server is None:
            raise JidError(f"Signal address {self} has no known server for its domain")
        device = f":{self.device}" if self.device else ""
        return f"{self.user}{device}@{server}"

    def with_user(self, user: str, lid: bool) -> ProtocolAddress:
        """The same device of another user, as a LID (``lid=True``) or PN address.

        Hosted devices stay hosted (``hosted`` ↔ ``hosted.lid``).
        """
        hosted = self.domain in (DOMAIN_HOSTED, DOMAIN_HOSTED_LID)
        if lid:
            domain = DOMAIN_HOSTED_LID if hosted else DOMAIN_LID
        else:
            domain = DOMAIN_HOSTED if hosted else DOMAIN_PN
        return ProtocolAddress(user if domain == DOMAIN_PN else f"{user}_{domain}", self.device)


@dataclass(frozen=True, slots=True)
class SenderKeyName:
    """Which sender key: a group and a sender's Signal address."""

    group: str
    sender: ProtocolAddress

    def __str__(self) -> str:
        return f"{self.group}::{self.sender.name}::{self.sender.device}"

    @classmethod
    def from_jids(cls, group: str, sender: str) -> SenderKeyName:
        """The sender key name of ``sender`` (a device JID) in ``group`` (a group JID)."""
        if "@" not in group:
            raise JidError(f"{group!r} is not a group JID (no '@')")
        return cls(group, ProtocolAddress.from_jid(sender))
