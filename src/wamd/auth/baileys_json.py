"""Baileys' JSON conventions: ``BufferJSON`` and ``JSON.stringify``'s exact output.

Baileys writes every auth file with ``JSON.stringify(value, BufferJSON.replacer)`` and
reads it with ``JSON.parse(text, BufferJSON.reviver)`` (protocol.md §8). In Python the
same values are plain JSON values with ``bytes`` where Baileys has Buffers:

- :func:`dumps` turns such a value into the bytes Node would write: compact JSON, keys in
  dict order, bytes as ``{"type":"Buffer","data":"<base64>"}``, strings escaped as
  ``JSON.stringify`` escapes them, numbers formatted as JavaScript formats them.
- :func:`loads` parses a file the way the reviver does, and is lenient in the same ways
  Node is: ``{"type":"Buffer","data":"<b64>"}``, the legacy ``{"0":5,"1":7}`` form and
  ``{"type":"Buffer","data":[5,7]}`` all become ``bytes``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

from wamd.errors import CorruptStoreError

__all__ = ["b64decode", "b64encode", "buffer_json", "dumps", "loads", "revive", "to_json_text"]

JsonValue = Any
"""A JSON value as Python holds it, with ``bytes`` allowed where Baileys has a Buffer."""

_SURROGATE = re.compile("[\ud800-\udfff]")
_B64_CHARS = re.compile(rb"^[A-Za-z0-9+/\-_]*={0,2}$")
_INT_KEY = re.compile(r"^\s*[+-]?\d")


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as ``Buffer.toString('base64')`` writes it."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, where: str = "value") -> bytes:
    """Decode base64 as Node does for well-formed input (standard or URL-safe, padding optional).

    Raises :class:`CorruptStoreError` naming ``where`` if ``text`` is not base64.
    """
    raw = text.strip().encode("ascii", "replace")
    if not _B64_CHARS.match(raw):
        raise CorruptStoreError(f"{where}: not a base64 string")
    raw = raw.rstrip(b"=").replace(b"-", b"+").replace(b"_", b"/")
    if len(raw) % 4 == 1:
        raise CorruptStoreError(f"{where}: truncated base64 string")
    try:
        return base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except binascii.Error as exc:  # pragma: no cover - the regex above already rules this out
        raise CorruptStoreError(f"{where}: bad base64 ({exc})") from None


def buffer_json(data: bytes) -> dict[str, str]:
    """The object ``BufferJSON.replacer`` makes of a Buffer."""
    return {"type": "Buffer", "data": b64encode(data)}


def _legacy_bytes(obj: dict[str, Any]) -> bytes | None:
    """Bytes from ``{"0": 5, "1": 7}`` (an old serialised Uint8Array), else None."""
    if not obj or not all(_INT_KEY.match(k) for k in obj):
        return None
    values = list(obj.values())
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None
    if all(k.isdigit() and (k == "0" or not k.startswith("0")) for k in obj):
        # JavaScript orders integer-like keys numerically, whatever order the file has.
        values = [obj[k] for k in sorted(obj, key=int)]
    return bytes(_to_uint8(v) for v in values)


def _to_uint8(value: float) -> int:
    """JavaScript's ToUint8 (what ``Buffer.from(array)`` applies to each element)."""
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return int(value) % 256


def revive(obj: dict[str, Any]) -> Any:
    """``BufferJSON.reviver`` for one JSON object (use as ``object_hook``), plus Node's leniency.

    The ``{"type":"Buffer","data":[ints]}`` form is not revived by Baileys' reviver but
    every Node API that later receives it treats it as a Buffer, so it becomes bytes too.
    """
    if obj.get("type") == "Buffer" and "data" in obj:
        data = obj["data"]
        if isinstance(data, str):
            return b64decode(data, "Buffer value")
        if isinstance(data, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in data
        ):
            return bytes(_to_uint8(v) for v in data)
    legacy = _legacy_bytes(obj)
    return obj if legacy is None else legacy


def _parse_int(text: str) -> int | float:
    """An integer literal as JavaScript reads it: exact up to 2^53, else the nearest double."""
    value = int(text)
    return value if abs(value) <= 2**53 else float(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str, where: str) -> JsonValue:
    """Parse a Baileys JSON file (``JSON.parse`` with the reviver); ``where`` names it in errors."""
    if isinstance(data, bytes):
        if not data:
            raise CorruptStoreError(f"{where}: file is empty")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptStoreError(f"{where}: not UTF-8 (byte {exc.start})") from None
    else:
        text = data
    if not text.strip():
        raise CorruptStoreError(f"{where}: file is empty")
    try:
        return json.loads(
            text, object_hook=revive, parse_int=_parse_int, parse_constant=_reject_constant
        )
    except CorruptStoreError as exc:
        raise CorruptStoreError(f"{where}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        detail = str(exc).split(":")[0] if isinstance(exc, ValueError) else "nested too deeply"
        pos = getattr(exc, "pos", None)
        at = f" at character {pos}" if pos is not None else ""
        raise CorruptStoreError(f"{where}: not valid JSON ({detail}{at})") from None


def _js_number(value: float) -> str:
    """A number as JavaScript's ``Number.prototype.toString`` writes it (shortest digits)."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr() gives the shortest round-tripping digits, as JavaScript picks them.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac.rstrip("0")).lstrip("0") or "0"
    # value = 0.digits x 10^n, in the terms of ECMA-262's Number::toString.
    n = len(whole.lstrip("0")) + int(exp_text or 0)
    if not whole.lstrip("0"):
        n = -(len(frac) - len(frac.lstrip("0"))) + int(exp_text or 0)
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exponent = n - 1
    exp_sign = "+" if exponent >= 0 else "-"
    body = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{body}e{exp_sign}{abs(exponent)}"


def _js_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    if _SURROGATE.search(out):
        out = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
    return out


def to_json_text(value: JsonValue) -> str:
    """``JSON.stringify(value, BufferJSON.replacer)`` for a Python JSON value.

    Raises :class:`TypeError` for values JSON cannot hold (a bug in the caller).
    """
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: JsonValue, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_js_string(value))
    elif isinstance(value, int):
        # Beyond 2^53 JavaScript holds (and writes) only the nearest double.
        out.append(str(value) if abs(value) <= 2**53 else _js_number(float(value)))
    elif isinstance(value, float):
        out.append(_js_number(value))
    elif isinstance(value, bytes | bytearray | memoryview):
        out.append('{"type":"Buffer","data":"')
        out.append(b64encode(bytes(value)))
        out.append('"}')
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in _js_key_order(value):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            if not first:
                out.append(",")
            first = False
            out.append(_js_string(key))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} cannot be written as JSON")


def _is_array_index(key: str) -> bool:
    return (
        key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1
    )


def _js_key_order(obj: dict[Any, Any]) -> list[tuple[Any, Any]]:
    """Items in the order JavaScript enumerates them: integer keys ascending, then the rest."""
    items = list(obj.items())
    if not any(isinstance(k, str) and _is_array_index(k) for k, _ in items):
        return items
    index = sorted(
        ((k, v) for k, v in items if isinstance(k, str) and _is_array_index(k)),
        key=lambda kv: int(kv[0]),
    )
    return index + [(k, v) for k, v in items if not (isinstance(k, str) and _is_array_index(k))]


def dumps(value: JsonValue) -> bytes:
    """The UTF-8 bytes Baileys would write for ``value`` (no trailing newline)."""
    return to_json_text(value).encode("utf-8")
