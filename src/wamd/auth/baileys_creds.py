"""Baileys' ``creds.json`` both ways: camelCase names, BufferJSON, and its protobuf-JSON quirks.

:func:`creds_from_json` reads the revived JSON object of a ``creds.json`` into
:class:`AuthCreds`; :func:`creds_to_json` builds the object Baileys would hold for the
same values, keys in the order Baileys would write them, so that
``baileys_json.dumps(creds_to_json(creds))`` is byte-identical to Baileys' own file.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from wamd._proto import adv_pb2
from wamd.auth import baileys_json
from wamd.auth.creds import AuthCreds, Contact, FieldReader, SignalIdentity, SignedPreKey
from wamd.errors import CorruptStoreError

__all__ = ["creds_from_bytes", "creds_from_json", "creds_to_bytes", "creds_to_json"]

# The order ``initAuthCreds`` creates the keys in (undefined ones keep their place while the
# object lives), then the order pairing adds the rest.
CANONICAL_ORDER = (
    "noiseKey",
    "pairingEphemeralKeyPair",
    "signedIdentityKey",
    "signedPreKey",
    "registrationId",
    "advSecretKey",
    "processedHistoryMessages",
    "nextPreKeyId",
    "firstUnuploadedPreKeyId",
    "accountSyncCounter",
    "accountSettings",
    "registered",
    "pairingCode",
    "lastPropHash",
    "routingInfo",
    "additionalData",
    "account",
    "me",
    "signalIdentities",
    "platform",
    "myAppStateKeyId",
    "lastAccountSyncTimestamp",
)
_KNOWN = frozenset(CANONICAL_ORDER)
# ADVSignedDeviceIdentity fields in declaration order (protobufjs toJSON writes them so).
_ACCOUNT_FIELDS = ("details", "accountSignatureKey", "accountSignature", "deviceSignature")
# pair-success builds ``me`` as {id, name, lid}.
_CONTACT_ORDER = ("id", "name", "lid")


def _pair_json(pair: Any) -> dict[str, bytes]:
    return {"private": pair.private, "public": pair.public}


def _account_json(account: bytes) -> dict[str, Any]:
    msg = adv_pb2.ADVSignedDeviceIdentity()
    try:
        msg.ParseFromString(account)
    except DecodeError:
        raise CorruptStoreError("creds.account is not an ADVSignedDeviceIdentity") from None
    # protobuf's JSON mapping is protobufjs' toJSON form: bytes as base64, declaration order.
    return json_format.MessageToDict(msg)


def _account_bytes(value: Any, where: str) -> bytes:
    if not isinstance(value, dict):
        raise CorruptStoreError(f"{where}: field account must be an object")
    unknown = sorted(set(value) - set(_ACCOUNT_FIELDS))
    if unknown:
        raise CorruptStoreError(f"{where}: field account has unknown fields {unknown}")
    # Bytes fields are base64 strings after a Baileys save/load, Buffers before: take both.
    reader = FieldReader(value, where, "account.")
    plain = {}
    for name in _ACCOUNT_FIELDS:
        data = reader.raw(name, optional=True)
        if data is not None:
            plain[name] = baileys_json.b64encode(data)
    return json_format.ParseDict(plain, adv_pb2.ADVSignedDeviceIdentity()).SerializeToString()


def _contact_json(me: Contact) -> dict[str, Any]:
    values: dict[str, Any] = {"id": me.id, "name": me.name, "lid": me.lid, **me.extra}
    return _ordered(values, me.key_order, (*_CONTACT_ORDER, *me.extra), set(me.extra))


def creds_to_json(creds: AuthCreds) -> dict[str, Any]:
    """The object Baileys keeps for these creds (bytes where Baileys has Buffers)."""
    spk = creds.signed_pre_key
    signed: dict[str, Any] = {
        "keyPair": _pair_json(spk.key_pair),
        "signature": spk.signature,
        "keyId": spk.key_id,
    }
    if spk.timestamp_s is not None:
        signed["timestampS"] = spk.timestamp_s
    values: dict[str, Any] = {
        "noiseKey": _pair_json(creds.noise_key),
        "pairingEphemeralKeyPair": _pair_json(creds.pairing_ephemeral_key_pair),
        "signedIdentityKey": _pair_json(creds.signed_identity_key),
        "signedPreKey": signed,
        "registrationId": creds.registration_id,
        "advSecretKey": creds.adv_secret_key,
        "processedHistoryMessages": creds.processed_history_messages,
        "nextPreKeyId": creds.next_pre_key_id,
        "firstUnuploadedPreKeyId": creds.first_unuploaded_pre_key_id,
        "accountSyncCounter": creds.account_sync_counter,
        "accountSettings": creds.account_settings,
        "registered": creds.registered,
        "pairingCode": creds.pairing_code,
        "lastPropHash": creds.last_prop_hash,
        "routingInfo": creds.routing_info,
        "additionalData": creds.additional_data,
        "account": None if creds.account is None else _account_json(creds.account),
        "me": None if creds.me is None else _contact_json(creds.me),
        "signalIdentities": None
        if creds.signal_identities is None
        else [
            {
                "identifier": {"name": s.name, "deviceId": s.device_id},
                "identifierKey": s.identifier_key,
            }
            for s in creds.signal_identities
        ],
        "platform": creds.platform,
        "myAppStateKeyId": creds.my_app_state_key_id,
        "lastAccountSyncTimestamp": creds.last_account_sync_timestamp,
    }
    for key, value in creds.extra.items():
        if key not in _KNOWN:
            values[key] = value
    return _ordered(values, creds.key_order, (*CANONICAL_ORDER, *creds.extra), set(creds.extra))


def _ordered(
    values: dict[str, Any], seen: tuple[str, ...], canonical: tuple[str, ...], raw: set[str]
) -> dict[str, Any]:
    """``values`` in the order they were read (``seen``), new keys in Baileys' order.

    ``None`` is an absent (``undefined``) field and is left out, unless the file had the
    key (Baileys wrote ``null``) or it is a field kept as read (``raw``).
    """
    order = [k for k in seen if k in values]
    order += [k for k in canonical if k not in order]
    return {k: values[k] for k in order if values[k] is not None or k in raw or k in seen}


def creds_from_json(obj: Any, where: str = "creds.json") -> AuthCreds:
    """Read a revived ``creds.json`` object.

    Raises :class:`CorruptStoreError` naming ``where`` and the field at fault.
    """
    if not isinstance(obj, dict):
        raise CorruptStoreError(f"{where}: must hold a JSON object, not {type(obj).__name__}")
    r = FieldReader(obj, where)
    spk = r.need("signedPreKey")
    me = r.sub("me", optional=True)
    contact: Contact | None = None
    if me is not None:
        contact = Contact(
            me.get("id", str),
            me.get("lid", str, optional=True),
            me.get("name", str, optional=True),
            {k: v for k, v in me.obj.items() if k not in _CONTACT_ORDER},
            tuple(me.obj),
        )
    identities = r.objects("signalIdentities")
    signal_identities = (
        None
        if identities is None
        else [
            SignalIdentity(
                ir.need("identifier").get("name", str),
                ir.need("identifier").get("deviceId", int),
                ir.need_raw("identifierKey"),
            )
            for ir in identities
        ]
    )
    account = obj.get("account")
    return AuthCreds(
        noise_key=r.pair("noiseKey"),
        pairing_ephemeral_key_pair=r.pair("pairingEphemeralKeyPair"),
        signed_identity_key=r.pair("signedIdentityKey"),
        signed_pre_key=SignedPreKey(
            spk.pair("keyPair"),
            spk.need_raw("signature", 64),
            spk.get("keyId", int),
            spk.get("timestampS", int, optional=True),
        ),
        registration_id=r.get("registrationId", int),
        adv_secret_key=r.get("advSecretKey", str),
        processed_history_messages=r.get("processedHistoryMessages", list, optional=True) or [],
        next_pre_key_id=r.get("nextPreKeyId", int),
        first_unuploaded_pre_key_id=r.get("firstUnuploadedPreKeyId", int),
        account_sync_counter=_opt_int(r, "accountSyncCounter", 0),
        account_settings=r.get("accountSettings", dict, optional=True) or {"unarchiveChats": False},
        registered=bool(r.get("registered", bool, optional=True)),
        pairing_code=r.get("pairingCode", str, optional=True),
        last_prop_hash=r.get("lastPropHash", str, optional=True),
        routing_info=r.raw("routingInfo", optional=True),
        additional_data=obj.get("additionalData"),
        me=contact,
        account=None if account is None else _account_bytes(account, where),
        signal_identities=signal_identities,
        platform=r.get("platform", str, optional=True),
        my_app_state_key_id=r.get("myAppStateKeyId", str, optional=True),
        last_account_sync_timestamp=r.get("lastAccountSyncTimestamp", int, optional=True),
        extra={k: v for k, v in obj.items() if k not in _KNOWN},
        key_order=tuple(obj),
    )


def _opt_int(r: FieldReader, key: str, default: int) -> int:
    value = r.get(key, int, optional=True)
    return default if value is None else int(value)


def creds_to_bytes(creds: AuthCreds) -> bytes:
    """The exact bytes of the ``creds.json`` Baileys would write for ``creds``."""
    return baileys_json.dumps(creds_to_json(creds))


def creds_from_bytes(data: bytes, where: str = "creds.json") -> AuthCreds:
    """Parse the bytes of a ``creds.json``; :class:`CorruptStoreError` names ``where``."""
    return creds_from_json(baileys_json.loads(data, where), where)
