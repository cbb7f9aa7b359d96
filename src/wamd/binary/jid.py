"""JIDs: the addresses of users, devices, groups, broadcasts and servers."""

from __future__ import annotations

from dataclasses import dataclass

from wamd.binary._wire import DOMAIN_OF_SERVER
from wamd.errors import JidError

__all__ = [
    "BOT_SERVER",
    "BROADCAST_SERVER",
    "CALL_SERVER",
    "DEFAULT_USER_SERVER",
    "GROUP_SERVER",
    "HOSTED_LID_SERVER",
    "HOSTED_SERVER",
    "INTEROP_SERVER",
    "LEGACY_USER_SERVER",
    "LID_SERVER",
    "MESSENGER_SERVER",
    "NEWSLETTER_SERVER",
    "STATUS_BROADCAST",
    "S_WHATSAPP_NET",
    "Jid",
]

DEFAULT_USER_SERVER = "s.whatsapp.net"
LEGACY_USER_SERVER = "c.us"
LID_SERVER = "lid"
GROUP_SERVER = "g.us"
BROADCAST_SERVER = "broadcast"
NEWSLETTER_SERVER = "newsletter"
HOSTED_SERVER = "hosted"
HOSTED_LID_SERVER = "hosted.lid"
INTEROP_SERVER = "interop"
MESSENGER_SERVER = "msgr"
BOT_SERVER = "bot"
CALL_SERVER = "call"

#: The server JID that iqs are addressed to, as written in stanzas.
S_WHATSAPP_NET = "@s.whatsapp.net"
#: The status (stories) broadcast list.
STATUS_BROADCAST = "status@broadcast"

_KNOWN_SERVERS = frozenset(
    {
        DEFAULT_USER_SERVER,
        LEGACY_USER_SERVER,
        LID_SERVER,
        GROUP_SERVER,
        BROADCAST_SERVER,
        NEWSLETTER_SERVER,
        HOSTED_SERVER,
        HOSTED_LID_SERVER,
        INTEROP_SERVER,
        MESSENGER_SERVER,
        BOT_SERVER,
        CALL_SERVER,
    }
)
# Servers whose JIDs always print the device, as the wire decoder writes them.
_ALWAYS_DEVICE = frozenset({INTEROP_SERVER, MESSENGER_SERVER})
_SERVER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_USER_FORBIDDEN = frozenset("@:_ \t\r\n\x00")
_MAX_SMALL = 255
_MAX_DEVICE = 65535


@dataclass(frozen=True, slots=True)
class Jid:
    """A parsed JID: ``[integrator-]user[_agent][:device]@server``.

    ``device`` 0 is the primary device (the phone) and is not printed, as on the wire;
    ``agent`` is the domain-type number of AD forms; ``integrator`` is set for interop
    JIDs only. Build one with :meth:`parse` or directly; ``str(jid)`` gives the string.
    """

    user: str
    server: str
    device: int = 0
    agent: int = 0
    integrator: int = 0

    def __post_init__(self) -> None:
        if not self.server or not _SERVER_CHARS.issuperset(self.server):
            raise JidError(f"invalid JID server {self.server!r}")
        if not _USER_FORBIDDEN.isdisjoint(self.user):
            raise JidError(f"invalid character in JID user {self.user!r}")
        if not 0 <= self.device <= _MAX_DEVICE:
            raise JidError(f"JID device {self.device} out of range 0..{_MAX_DEVICE}")
        if not 0 <= self.agent <= _MAX_SMALL:
            raise JidError(f"JID agent {self.agent} out of range 0..{_MAX_SMALL}")
        if not 0 <= self.integrator <= _MAX_DEVICE:
            raise JidError(f"JID integrator {self.integrator} out of range 0..{_MAX_DEVICE}")
        if self.integrator and self.server != INTEROP_SERVER:
            raise JidError(f"an integrator is only valid on @{INTEROP_SERVER}, not @{self.server}")

    @classmethod
    def parse(cls, text: str) -> Jid:
        """Parse a JID string; raise :class:`~wamd.errors.JidError` if it is not one.

        A bare known server name (``"s.whatsapp.net"``) parses as a server-only JID.
        """
        if not isinstance(text, str):
            raise JidError(f"a JID must be a string, not {type(text).__name__}")
        user_part, at, server = text.partition("@")
        if not at:
            if text in _KNOWN_SERVERS:
                return cls("", text)
            raise JidError(f"not a JID (no '@'): {text!r}")
        if "@" in server:
            raise JidError(f"not a JID (more than one '@'): {text!r}")
        integrator = 0
        if server == INTEROP_SERVER and "-" in user_part:
            prefix, _, user_part = user_part.partition("-")
            integrator = _number(prefix, "integrator", text)
        rest, colon, device_text = user_part.partition(":")
        device = _number(device_text, "device", text) if colon else 0
        user, underscore, agent_text = rest.partition("_")
        agent = _number(agent_text, "agent", text) if underscore else 0
        return cls(user, server, device, agent, integrator)

    def __str__(self) -> str:
        user = self.user
        if self.integrator:
            user = f"{self.integrator}-{user}"
        if self.agent:
            user = f"{user}_{self.agent}"
        if self.device or self.server in _ALWAYS_DEVICE:
            user = f"{user}:{self.device}"
        return f"{user}@{self.server}"

    # -- kinds -----------------------------------------------------------------------

    @property
    def is_server(self) -> bool:
        """True for a server-only JID such as ``@s.whatsapp.net``."""
        return not self.user

    @property
    def is_pn_user(self) -> bool:
        """True for a phone-number user or device (``s.whatsapp.net`` or legacy ``c.us``)."""
        return bool(self.user) and self.server in (DEFAULT_USER_SERVER, LEGACY_USER_SERVER)

    @property
    def is_lid(self) -> bool:
        """True for a LID user or device (``@lid``)."""
        return self.server == LID_SERVER

    @property
    def is_user(self) -> bool:
        """True for any person address: PN, LID or hosted."""
        return bool(self.user) and (
            self.server in DOMAIN_OF_SERVER or self.server == LEGACY_USER_SERVER
        )

    @property
    def is_group(self) -> bool:
        """True for a group (``@g.us``)."""
        return self.server == GROUP_SERVER

    @property
    def is_broadcast(self) -> bool:
        """True for a broadcast list, including ``status@broadcast``."""
        return self.server == BROADCAST_SERVER

    @property
    def is_status_broadcast(self) -> bool:
        """True for ``status@broadcast``."""
        return self.server == BROADCAST_SERVER and self.user == "status"

    @property
    def is_newsletter(self) -> bool:
        """True for a channel (``@newsletter``)."""
        return self.server == NEWSLETTER_SERVER

    @property
    def is_hosted(self) -> bool:
        """True for a hosted business device (``@hosted`` or ``@hosted.lid``)."""
        return self.server in (HOSTED_SERVER, HOSTED_LID_SERVER)

    @property
    def is_bot(self) -> bool:
        """True for a bot (``@bot``)."""
        return self.server == BOT_SERVER

    @property
    def is_interop(self) -> bool:
        """True for an interop JID (``@interop``)."""
        return self.server == INTEROP_SERVER

    @property
    def is_ad(self) -> bool:
        """True when the JID names a specific companion device or carries an agent."""
        return self.device != 0 or self.agent != 0

    @property
    def domain_type(self) -> int:
        """The AD_JID domain-type byte: 1 lid, 128 hosted, 129 hosted.lid, else the agent."""
        domain = DOMAIN_OF_SERVER.get(self.server, 0)
        return domain if domain else self.agent

    # -- conversions -----------------------------------------------------------------

    def to_non_ad(self) -> Jid:
        """The user-level JID: no device or agent; legacy ``c.us`` becomes s.whatsapp.net."""
        server = DEFAULT_USER_SERVER if self.server == LEGACY_USER_SERVER else self.server
        return Jid(self.user, server, integrator=self.integrator)

    def with_device(self, device: int) -> Jid:
        """The same user on another device."""
        return Jid(self.user, self.server, device, self.agent, self.integrator)


def _number(text: str, what: str, jid: str) -> int:
    if not text.isascii() or not text.isdecimal() or len(text) > 5:
        raise JidError(f"invalid JID {what} {text!r} in {jid!r}")
    return int(text)
