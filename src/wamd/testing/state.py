"""What the fake server knows: accounts, their linked devices and those devices' keys.

Plain mutable records, owned by one :class:`~wamd.testing.FakeServer` and changed only
on its event loop. An account is a phone number with its LID, push name and account key
(the phone's identity key, which signs linked devices); a device is one linked companion
with the keys it registered and the pre-keys it uploaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from wamd.binary import Node
from wamd.crypto import KeyPair, generate_key_pair

__all__ = ["Account", "Device", "SignedPreKey", "lid_for_phone"]


def lid_for_phone(phone_number: str) -> str:
    """The LID user the fake server gives a phone number (``1000`` + the number)."""
    return "1000" + phone_number


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    """A device's signed pre-key: id, 32-byte public key and 64-byte signature."""

    key_id: int
    public: bytes
    signature: bytes

    def __repr__(self) -> str:
        return f"SignedPreKey(key_id={self.key_id}, public={self.public.hex()})"


@dataclass(slots=True)
class Device:
    """One linked companion device of an account.

    ``noise_pub`` is the Noise static key it registered with (checked at every login),
    ``identity_pub`` its Signal identity key; ``pre_keys`` the one-time pre-keys it
    uploaded (id -> 32-byte public key); ``offline_queue`` the stanzas waiting for its
    next login (removed when it acknowledges them).
    """

    device_id: int
    noise_pub: bytes
    identity_pub: bytes
    registration_id: int
    signed_pre_key: SignedPreKey | None
    key_index: int
    pre_keys: dict[int, bytes] = field(default_factory=dict)
    platform: str = ""
    logged_in_count: int = 0
    offline_queue: list[Node] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"Device(device_id={self.device_id}, key_index={self.key_index}, "
            f"pre_keys={len(self.pre_keys)}, logins={self.logged_in_count})"
        )


@dataclass(slots=True)
class Account:
    """A WhatsApp account as the fake server sees it: the phone and its linked devices.

    ``key`` is the account key pair (the phone's identity; it signs linked devices);
    ``raw_id`` the id written into every device identity the phone signs;
    ``next_device_id`` and ``next_key_index`` what the next linked device gets (never
    reused). ``platform`` is the phone platform sent in pair-success (``android``,
    ``iphone``, ``smba``, ``smbi``); ``biz_name`` makes it a business account.
    ``phone_device`` holds the phone's own Signal keys (device 0) once a sender has
    asked for them (fake-server.md §7.1).
    """

    phone_number: str
    lid: str
    push_name: str
    key: KeyPair
    raw_id: int
    devices: dict[int, Device] = field(default_factory=dict)
    next_device_id: int = 1
    next_key_index: int = 1
    platform: str = "android"
    biz_name: str | None = None
    phone_device: Device | None = None

    @classmethod
    def create(
        cls,
        phone_number: str,
        *,
        push_name: str = "",
        key: KeyPair | None = None,
        platform: str = "android",
        biz_name: str | None = None,
    ) -> Account:
        """A fresh account for ``phone_number`` with a new account key and raw id."""
        return cls(
            phone_number=phone_number,
            lid=lid_for_phone(phone_number),
            push_name=push_name,
            key=key if key is not None else generate_key_pair(),
            raw_id=int.from_bytes(os.urandom(4), "big") or 1,
            platform=platform,
            biz_name=biz_name,
        )

    def __repr__(self) -> str:
        return (
            f"Account(phone_number={self.phone_number!r}, lid={self.lid!r}, "
            f"devices={sorted(self.devices)})"
        )

    def reserve_device(self) -> tuple[int, int]:
        """Take the next device id and key index for a device being linked."""
        device_id, key_index = self.next_device_id, self.next_key_index
        self.next_device_id += 1
        self.next_key_index += 1
        return device_id, key_index

    def pn_jid(self, device: int = 0) -> str:
        """This account's phone-number JID for ``device`` (0: the phone itself)."""
        return (
            f"{self.phone_number}:{device}@s.whatsapp.net"
            if device
            else (f"{self.phone_number}@s.whatsapp.net")
        )

    def lid_jid(self, device: int = 0) -> str:
        """This account's LID JID for ``device``."""
        return f"{self.lid}:{device}@lid" if device else f"{self.lid}@lid"
