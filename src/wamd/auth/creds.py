"""The account's long-lived credentials (Baileys' ``AuthenticationCreds``) and their native form.

:class:`AuthCreds` carries every field Baileys keeps in ``creds.json`` (protocol.md §7.1)
under a snake_case name; :func:`init_auth_creds` makes fresh ones as ``initAuthCreds``
does. :meth:`AuthCreds.to_bytes` / :meth:`AuthCreds.from_bytes` are wamd's own versioned
storage form (compact JSON, bytes as base64), used by the native backends. The Baileys
``creds.json`` form lives in :mod:`wamd.auth.baileys_creds`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wamd.auth import baileys_json
from wamd.crypto import KeyPair, generate_key_pair, prefixed, sign
from wamd.errors import CorruptStoreError, InvalidKeyError, StoreSchemaError
from wamd.signal import keys as signal_keys

if TYPE_CHECKING:
    from wamd.signal.repository import LocalIdentity

__all__ = [
    "AuthCreds",
    "Contact",
    "SignalIdentity",
    "SignedPreKey",
    "generate_registration_id",
    "init_auth_creds",
    "signed_pre_key",
]

NATIVE_FORMAT = "wamd.creds"
NATIVE_VERSION = 1
SIGNATURE_LEN = 64


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    """A signed pre-key: a key pair, the identity key's signature over ``0x05 || public``, an id."""

    key_pair: KeyPair
    signature: bytes
    key_id: int
    timestamp_s: int | None = None

    def __repr__(self) -> str:
        return f"SignedPreKey(key_id={self.key_id}, public={self.key_pair.public.hex()})"


@dataclass(frozen=True, slots=True)
class Contact:
    """Who we are (``creds.me``): our phone-number JID, our LID JID and our push name.

    ``extra`` keeps any other Contact field Baileys stored (``notify``, ``verifiedName``…)
    as it was; ``key_order`` remembers the order Baileys wrote the keys in, so a file
    written back is byte-identical (it takes no part in equality).
    """

    id: str
    lid: str | None = None
    name: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    key_order: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SignalIdentity:
    """An identity we trust at pairing: a Signal address and its 33-byte (0x05-prefixed) key."""

    name: str
    device_id: int
    identifier_key: bytes


@dataclass(slots=True)
class AuthCreds:
    """Every field of Baileys' ``AuthenticationCreds``, with Python names.

    Optional fields are ``None`` when Baileys would leave them ``undefined``.
    ``processed_history_messages``, ``account_settings`` and ``additional_data`` are JSON
    values as Baileys keeps them (``bytes`` where Baileys has a Buffer); ``account`` is
    the serialized ``ADVSignedDeviceIdentity``. ``extra`` holds fields this version does
    not know, kept so that nothing is lost; ``key_order`` remembers the order of the keys
    in the ``creds.json`` they came from. The repr shows no private key or secret.
    """

    noise_key: KeyPair
    pairing_ephemeral_key_pair: KeyPair
    signed_identity_key: KeyPair
    signed_pre_key: SignedPreKey
    registration_id: int
    adv_secret_key: str
    processed_history_messages: list[Any] = field(default_factory=list)
    next_pre_key_id: int = 1
    first_unuploaded_pre_key_id: int = 1
    account_sync_counter: int = 0
    account_settings: dict[str, Any] = field(default_factory=lambda: {"unarchiveChats": False})
    registered: bool = False
    pairing_code: str | None = None
    last_prop_hash: str | None = None
    routing_info: bytes | None = None
    additional_data: Any = None
    me: Contact | None = None
    account: bytes | None = None
    signal_identities: list[SignalIdentity] | None = None
    platform: str | None = None
    my_app_state_key_id: str | None = None
    last_account_sync_timestamp: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    key_order: tuple[str, ...] = field(default=(), compare=False)

    def __repr__(self) -> str:
        me = self.me.id if self.me else None
        return (
            f"AuthCreds(me={me!r}, platform={self.platform!r}, registered={self.registered}, "
            f"registration_id={self.registration_id}, "
            f"identity_public={self.signed_identity_key.public.hex()}, "
            f"next_pre_key_id={self.next_pre_key_id}, "
            f"first_unuploaded_pre_key_id={self.first_unuploaded_pre_key_id}, "
            "private keys and secrets hidden)"
        )

    @property
    def account_id(self) -> str | None:
        """The account's user (``me.id`` without device and server), or None before pairing."""
        if self.me is None:
            return None
        return self.me.id.split("@", 1)[0].split(":", 1)[0]

    def local_identity(self) -> LocalIdentity:
        """Our Signal identity (identity key, registration id, signed pre-key)."""
        # Imported here: the repository pulls in the whole cipher stack, which reading and
        # writing creds does not need.
        from wamd.signal.repository import LocalIdentity  # noqa: PLC0415

        spk = self.signed_pre_key
        return LocalIdentity(
            identity=self.signed_identity_key,
            registration_id=self.registration_id,
            signed_pre_key=signal_keys.SignedPreKey(spk.key_id, spk.key_pair, spk.signature),
        )

    def to_bytes(self) -> bytes:
        """wamd's native, versioned storage form (compact UTF-8 JSON)."""
        return baileys_json.dumps(_to_native(self))

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "creds") -> AuthCreds:
        """Read the native form; :class:`CorruptStoreError` (naming ``where``) if it is bad."""
        obj = baileys_json.loads(data, where)
        if not isinstance(obj, dict) or obj.get("format") != NATIVE_FORMAT:
            raise CorruptStoreError(f"{where}: not a wamd creds record")
        version = obj.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise CorruptStoreError(f"{where}: creds record has no version")
        if version > NATIVE_VERSION:
            raise StoreSchemaError(
                f"{where}: creds record version {version} is newer than this wamd "
                f"understands ({NATIVE_VERSION}); upgrade wamd"
            )
        return _from_native(obj, where)


def generate_registration_id() -> int:
    """A random Signal registration id in 1..16380."""
    return 1 + int.from_bytes(os.urandom(2), "big") % 16380


def signed_pre_key(identity: KeyPair, key_id: int) -> SignedPreKey:
    """A fresh signed pre-key with ``key_id``, signed by ``identity`` over ``0x05 || public``."""
    pair = generate_key_pair()
    return SignedPreKey(pair, sign(identity.private, prefixed(pair.public)), key_id)


def init_auth_creds() -> AuthCreds:
    """Fresh credentials for a device that is not linked yet (Baileys' ``initAuthCreds``)."""
    identity = generate_key_pair()
    return AuthCreds(
        noise_key=generate_key_pair(),
        pairing_ephemeral_key_pair=generate_key_pair(),
        signed_identity_key=identity,
        signed_pre_key=signed_pre_key(identity, 1),
        registration_id=generate_registration_id(),
        adv_secret_key=baileys_json.b64encode(os.urandom(32)),
    )


# --- native form ---------------------------------------------------------------------------


def _pair_out(pair: KeyPair) -> dict[str, str]:
    return {
        "private": baileys_json.b64encode(pair.private),
        "public": baileys_json.b64encode(pair.public),
    }


def _to_native(c: AuthCreds) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format": NATIVE_FORMAT,
        "version": NATIVE_VERSION,
        "noise_key": _pair_out(c.noise_key),
        "pairing_ephemeral_key_pair": _pair_out(c.pairing_ephemeral_key_pair),
        "signed_identity_key": _pair_out(c.signed_identity_key),
        "signed_pre_key": {
            "key_pair": _pair_out(c.signed_pre_key.key_pair),
            "signature": baileys_json.b64encode(c.signed_pre_key.signature),
            "key_id": c.signed_pre_key.key_id,
            "timestamp_s": c.signed_pre_key.timestamp_s,
        },
        "registration_id": c.registration_id,
        "adv_secret_key": c.adv_secret_key,
        "processed_history_messages": c.processed_history_messages,
        "next_pre_key_id": c.next_pre_key_id,
        "first_unuploaded_pre_key_id": c.first_unuploaded_pre_key_id,
        "account_sync_counter": c.account_sync_counter,
        "account_settings": c.account_settings,
        "registered": c.registered,
        "pairing_code": c.pairing_code,
        "last_prop_hash": c.last_prop_hash,
        "routing_info": None if c.routing_info is None else baileys_json.b64encode(c.routing_info),
        "additional_data": c.additional_data,
        "me": None
        if c.me is None
        else {
            "id": c.me.id,
            "lid": c.me.lid,
            "name": c.me.name,
            "extra": dict(c.me.extra),
            "key_order": list(c.me.key_order),
        },
        "account": None if c.account is None else baileys_json.b64encode(c.account),
        "signal_identities": None
        if c.signal_identities is None
        else [
            {
                "name": s.name,
                "device_id": s.device_id,
                "identifier_key": baileys_json.b64encode(s.identifier_key),
            }
            for s in c.signal_identities
        ],
        "platform": c.platform,
        "my_app_state_key_id": c.my_app_state_key_id,
        "last_account_sync_timestamp": c.last_account_sync_timestamp,
        "extra": c.extra,
        "key_order": list(c.key_order),
    }
    return out


class FieldReader:
    """Typed field access on a decoded JSON object, with errors that name the field."""

    def __init__(self, obj: Mapping[str, Any], where: str, prefix: str = "") -> None:
        self.obj = obj
        self.where = where
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> CorruptStoreError:
        return CorruptStoreError(f"{self.where}: field {self.prefix}{key} {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        value = self.obj.get(key)
        if value is None:
            if optional:
                return None
            raise self.fail(key, "is missing")
        if isinstance(value, bool) and kind is int:
            raise self.fail(key, "must be an integer")
        if not isinstance(value, kind):
            name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"must be {name}, not {type(value).__name__}")
        return value

    def sub(self, key: str, *, optional: bool = False) -> FieldReader | None:
        value = self.get(key, dict, optional=optional)
        if value is None:
            return None
        return FieldReader(value, self.where, f"{self.prefix}{key}.")

    def need(self, key: str) -> FieldReader:
        reader = self.sub(key)
        assert reader is not None  # get() without optional never returns None
        return reader

    def objects(self, key: str) -> list[FieldReader] | None:
        """The optional list of JSON objects at ``key``, one reader per item (``key[i].``)."""
        items = self.get(key, list, optional=True)
        if items is None:
            return None
        readers = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{i}]", f"must be an object, not {type(item).__name__}")
            readers.append(FieldReader(item, self.where, f"{self.prefix}{key}[{i}]."))
        return readers

    def raw(self, key: str, length: int | None = None, *, optional: bool = False) -> bytes | None:
        value = self.get(key, (str, bytes), optional=optional)
        if value is None:
            return None
        data = (
            baileys_json.b64decode(value, f"{self.where}: field {self.prefix}{key}")
            if isinstance(value, str)
            else value
        )
        if length is not None and len(data) != length:
            raise self.fail(key, f"must be {length} bytes, got {len(data)}")
        return data

    def need_raw(self, key: str, length: int | None = None) -> bytes:
        data = self.raw(key, length)
        assert data is not None
        return data

    def pair(self, key: str) -> KeyPair:
        sub = self.need(key)
        try:
            return KeyPair(sub.need_raw("private", 32), sub.need_raw("public", 32))
        except InvalidKeyError as exc:  # pragma: no cover - lengths are checked above
            raise self.fail(key, str(exc)) from None


def _from_native(obj: Mapping[str, Any], where: str) -> AuthCreds:
    r = FieldReader(obj, where)
    spk = r.need("signed_pre_key")
    me = r.sub("me", optional=True)
    identities = r.objects("signal_identities")
    signal_identities = (
        None
        if identities is None
        else [
            SignalIdentity(
                ir.get("name", str), ir.get("device_id", int), ir.need_raw("identifier_key")
            )
            for ir in identities
        ]
    )
    return AuthCreds(
        noise_key=r.pair("noise_key"),
        pairing_ephemeral_key_pair=r.pair("pairing_ephemeral_key_pair"),
        signed_identity_key=r.pair("signed_identity_key"),
        signed_pre_key=SignedPreKey(
            spk.pair("key_pair"),
            spk.need_raw("signature", SIGNATURE_LEN),
            spk.get("key_id", int),
            spk.get("timestamp_s", int, optional=True),
        ),
        registration_id=r.get("registration_id", int),
        adv_secret_key=r.get("adv_secret_key", str),
        processed_history_messages=r.get("processed_history_messages", list),
        next_pre_key_id=r.get("next_pre_key_id", int),
        first_unuploaded_pre_key_id=r.get("first_unuploaded_pre_key_id", int),
        account_sync_counter=r.get("account_sync_counter", int),
        account_settings=r.get("account_settings", dict),
        registered=r.get("registered", bool),
        pairing_code=r.get("pairing_code", str, optional=True),
        last_prop_hash=r.get("last_prop_hash", str, optional=True),
        routing_info=r.raw("routing_info", optional=True),
        additional_data=obj.get("additional_data"),
        me=None
        if me is None
        else Contact(
            me.get("id", str),
            me.get("lid", str, optional=True),
            me.get("name", str, optional=True),
            me.get("extra", dict, optional=True) or {},
            tuple(me.get("key_order", list, optional=True) or ()),
        ),
        account=r.raw("account", optional=True),
        signal_identities=signal_identities,
        platform=r.get("platform", str, optional=True),
        my_app_state_key_id=r.get("my_app_state_key_id", str, optional=True),
        last_account_sync_timestamp=r.get("last_account_sync_timestamp", int, optional=True),
        extra=r.get("extra", dict, optional=True) or {},
        key_order=tuple(r.get("key_order", list, optional=True) or ()),
    )
