"""A test-side Signal party over the sans-IO core: keys, records per address, a fake clock.

It plays the role a repository plays in the library (load record, run the cipher, store
the record in native form, delete a used pre-key), so tests exercise the record
serialization on every message as the real thing will.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from wamd.crypto import KeyPair
from wamd.signal.keys import (
    PreKey,
    PreKeyBundle,
    SignedPreKey,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
)
from wamd.signal.session_builder import init_outgoing
from wamd.signal.session_cipher import (
    decrypt_message,
    decrypt_pre_key_message,
    encrypt,
)
from wamd.signal.session_record import SessionRecord
from wamd.signal.wire import PreKeyMessage


@dataclass
class PyParty:
    """One Signal identity with its pre-keys and native-serialized session records."""

    identity: KeyPair = field(default_factory=KeyPair.generate)
    registration_id: int = field(default_factory=generate_registration_id)
    signed_pre_key: SignedPreKey | None = None
    pre_keys: dict[int, PreKey] = field(default_factory=dict)
    sessions: dict[str, bytes] = field(default_factory=dict)
    next_pre_key_id: int = 1
    clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1_700_000_000_000))

    def __post_init__(self) -> None:
        if self.signed_pre_key is None:
            self.signed_pre_key = generate_signed_pre_key(self.identity, 1)

    def now(self) -> int:
        return next(self.clock)

    def bundle(self, with_pre_key: bool = True) -> PreKeyBundle:
        assert self.signed_pre_key is not None
        pre_key = None
        if with_pre_key:
            (pre_key,) = generate_pre_keys(self.next_pre_key_id, 1)
            self.next_pre_key_id += 1
            self.pre_keys[pre_key.key_id] = pre_key
        return PreKeyBundle.of(self.registration_id, self.identity, self.signed_pre_key, pre_key)

    def record(self, address: str) -> SessionRecord:
        data = self.sessions.get(address)
        return SessionRecord() if data is None else SessionRecord.deserialize(data)

    def inject(self, address: str, bundle: PreKeyBundle) -> None:
        record = self.record(address)
        init_outgoing(record, self.identity, bundle, now_ms=self.now())
        self.sessions[address] = record.serialize()

    def encrypt(self, address: str, data: bytes) -> tuple[str, bytes]:
        record = self.record(address)
        out = encrypt(record, self.identity, self.registration_id, data)
        self.sessions[address] = record.serialize()
        return out.type, out.body

    def decrypt(self, address: str, kind: str, body: bytes) -> bytes:
        record = self.record(address)
        if kind == "pkmsg":
            message = PreKeyMessage.parse(body)
            assert self.signed_pre_key is not None
            spk = (
                self.signed_pre_key.key_pair
                if message.signed_pre_key_id == self.signed_pre_key.key_id
                else None
            )
            opk = None
            if message.pre_key_id is not None and message.pre_key_id in self.pre_keys:
                opk = self.pre_keys[message.pre_key_id].key_pair
            result = decrypt_pre_key_message(
                record,
                self.identity,
                message,
                signed_pre_key=spk,
                one_time_pre_key=opk,
                now_ms=self.now(),
            )
            if result.used_pre_key_id is not None:
                del self.pre_keys[result.used_pre_key_id]
            plaintext = result.plaintext
        else:
            plaintext = decrypt_message(record, self.identity, body, now_ms=self.now())
        self.sessions[address] = record.serialize()
        return plaintext
