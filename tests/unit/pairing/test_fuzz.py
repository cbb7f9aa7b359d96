"""Every pairing parser refuses arbitrary input with a PairingError, never anything else."""

from __future__ import annotations

import base64
import contextlib
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.crypto import generate_key_pair
from wamd.errors import PairingError
from wamd.pairing import (
    build_registration_payload,
    parse_client_payload,
    parse_qr,
    sign_device_identity,
    verify_device_sign_reply,
    verify_pair_success,
)

IDENTITY = generate_key_pair()
ACCOUNT = generate_key_pair()
ADV = os.urandom(32)
ADV_B64 = base64.b64encode(ADV).decode()
RECORD = sign_device_identity(
    account=ACCOUNT,
    companion_identity_pub=IDENTITY.public,
    adv_secret=ADV,
    key_index=1,
    timestamp=1,
    raw_id=1,
)
PAYLOAD = build_registration_payload(
    registration_id=1,
    identity_pub=IDENTITY.public,
    signed_pre_key_id=1,
    signed_pre_key_pub=ACCOUNT.public,
    signed_pre_key_signature=bytes(64),
)


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, and the seed with a few bytes flipped, cut or inserted."""

    def mutate(edits: list[tuple[int, int, int]]) -> bytes:
        data = bytearray(seed)
        for kind, pos, value in edits:
            if not data:
                break
            i = pos % len(data)
            if kind == 0:
                data[i] ^= value or 1
            elif kind == 1:
                del data[i:]
            else:
                data.insert(i, value)
        return bytes(data)

    edit = st.tuples(st.integers(0, 2), st.integers(0, 1 << 16), st.integers(0, 255))
    return st.one_of(st.binary(max_size=300), st.lists(edit, min_size=1, max_size=4).map(mutate))


@settings(max_examples=300)
@given(_mutations(PAYLOAD))
def test_client_payload_parser(data: bytes) -> None:
    with contextlib.suppress(PairingError):
        parse_client_payload(data)


@settings(max_examples=300)
@given(_mutations(RECORD))
def test_pair_success_verifier(data: bytes) -> None:
    with contextlib.suppress(PairingError):
        verify_pair_success(data, ADV_B64, IDENTITY)


@settings(max_examples=200)
@given(_mutations(RECORD), _mutations(RECORD[10:]))
def test_device_sign_reply_verifier(sent: bytes, reply: bytes) -> None:
    with contextlib.suppress(PairingError):
        verify_device_sign_reply(
            reply, sent_device_identity=sent, companion_identity_pub=IDENTITY.public
        )


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_qr_parser(text: str) -> None:
    with contextlib.suppress(PairingError):
        parse_qr(text)
