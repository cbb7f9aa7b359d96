"""The Signal protocol as WhatsApp speaks it (libsignal v3 wire format), sans-IO.

Pairwise messaging, as pure functions over records:

- :mod:`~wamd.signal.keys`: identity keys, registration ids, pre-keys, signed pre-keys,
  :class:`PreKeyBundle`;
- :mod:`~wamd.signal.session_builder`: X3DH session setup from a bundle
  (:func:`init_outgoing`);
- :mod:`~wamd.signal.session_cipher`: :func:`encrypt`, :func:`decrypt_message` (``msg``)
  and :func:`decrypt_pre_key_message` (``pkmsg``, parsed first with
  :meth:`PreKeyMessage.parse` so the caller can load the pre-keys it names);
- :mod:`~wamd.signal.session_record`: :class:`SessionRecord`, in wamd's native bytes and
  in libsignal-node's JSON (what Baileys stores);
- :mod:`~wamd.signal.padding`: WhatsApp's plaintext padding.

Group messaging (sender keys) and the :class:`~wamd.signal.repository.SignalRepository`
that runs all of this over a key store live in their own modules.
"""

from wamd.signal.keys import (
    PreKey,
    PreKeyBundle,
    SignedPreKey,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
)
from wamd.signal.padding import pad, unpad
from wamd.signal.session_builder import init_outgoing
from wamd.signal.session_cipher import (
    CiphertextMessage,
    PreKeyDecryptResult,
    decrypt_message,
    decrypt_pre_key_message,
    encrypt,
)
from wamd.signal.session_record import SessionRecord
from wamd.signal.wire import PreKeyMessage

__all__ = [
    "CiphertextMessage",
    "PreKey",
    "PreKeyBundle",
    "PreKeyDecryptResult",
    "PreKeyMessage",
    "SessionRecord",
    "SignedPreKey",
    "decrypt_message",
    "decrypt_pre_key_message",
    "encrypt",
    "generate_identity_key_pair",
    "generate_pre_keys",
    "generate_registration_id",
    "generate_signed_pre_key",
    "init_outgoing",
    "pad",
    "unpad",
]
