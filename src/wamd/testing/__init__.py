"""A local WhatsApp stand-in for tests: :class:`FakeServer` and :class:`FakePhone`.

The fake server speaks the real protocol from the server side (Noise responder with a
certificate chain from a test root, QR and pairing-code linking with real signatures,
login, pre-keys, stream errors and faults on demand) and routes messages, receipts and
group traffic between linked devices; real Baileys clients pair, log in and message each
other through it. See ``docs/testing.md``.
"""

from wamd.testing.connection import SERVER_JID, FakeConnection, Phase
from wamd.testing.directory import Address, Directory
from wamd.testing.faults import (
    ChainDefect,
    Faults,
    LoginFailure,
    PairSuccessDefect,
    Step,
    build_chain,
)
from wamd.testing.groups import Group, GroupRegistry
from wamd.testing.messaging import Delivery, MessageRouter, PhoneHandler
from wamd.testing.phone import FakePhone
from wamd.testing.presence import PresenceHub
from wamd.testing.records import HandshakeFailure, IqError, PairingFailure, TranscriptEntry
from wamd.testing.server import WS_PATH, FakeServer, LoginRecord
from wamd.testing.state import Account, Device, SignedPreKey, lid_for_phone
from wamd.testing.threaded import ServerThread

__all__ = [
    "SERVER_JID",
    "WS_PATH",
    "Account",
    "Address",
    "ChainDefect",
    "Delivery",
    "Device",
    "Directory",
    "FakeConnection",
    "FakePhone",
    "FakeServer",
    "Faults",
    "Group",
    "GroupRegistry",
    "HandshakeFailure",
    "IqError",
    "LoginFailure",
    "LoginRecord",
    "MessageRouter",
    "PairSuccessDefect",
    "PairingFailure",
    "Phase",
    "PhoneHandler",
    "PresenceHub",
    "ServerThread",
    "SignedPreKey",
    "Step",
    "TranscriptEntry",
    "build_chain",
    "lid_for_phone",
]
