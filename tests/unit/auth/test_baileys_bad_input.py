"""Damaged Baileys files: whatever the bytes, reading them returns a value or raises
CorruptStoreError naming the file, never anything else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SHARED_FIXTURES
from wamd.auth import baileys_json
from wamd.auth.baileys_creds import creds_from_bytes, creds_from_json
from wamd.auth.baileys_keys import id_from_file_name, value_from_baileys, value_to_baileys
from wamd.errors import CorruptStoreError

SAMPLE = SHARED_FIXTURES / "baileys-auth-sample"
FILES = sorted(SAMPLE.rglob("*.json")) if SAMPLE.is_dir() else []


def _read(name: str, data: bytes) -> None:
    if name == "creds.json":
        creds_from_bytes(data, name)
        return
    found = id_from_file_name(name)
    assert found is not None
    value_from_baileys(found[0], baileys_json.loads(data, name), name)


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    path = draw(st.sampled_from(FILES))
    data = bytearray(path.read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from([b"{", b"}", b'"', b",", b"0", b"\xff", b"[]"]))
        elif data:
            del data[pos : pos + draw(st.integers(1, 20))]
    return path.name, bytes(data)


@pytest.mark.skipif(not FILES, reason="shared fixtures missing")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_fixture_files_fail_only_with_corrupt_store_error(case: tuple[str, bytes]) -> None:
    name, data = case
    try:
        _read(name, data)
    except CorruptStoreError as exc:
        assert name in str(exc)


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "private",
                    "public",
                    "type",
                    "data",
                    "keyData",
                    "timestamp",
                    "fingerprint",
                    "hash",
                    "_sessions",
                    "version",
                    "noiseKey",
                    "signedPreKey",
                    "keyPair",
                    "me",
                    "id",
                    "account",
                    "details",
                    "0",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)
_categories = st.sampled_from(
    [
        "pre-key",
        "session",
        "sender-key",
        "sender-key-memory",
        "app-state-sync-key",
        "app-state-sync-version",
        "lid-mapping",
        "device-list",
        "tctoken",
        "identity-key",
    ]
)


@settings(max_examples=400, deadline=None)
@given(_categories, _json)
def test_any_json_value_in_a_key_file_converts_or_is_corrupt(category: str, value: Any) -> None:
    name = f"{category}-x.json"
    try:
        out = value_from_baileys(category, value, name)
    except CorruptStoreError as exc:
        assert name in str(exc)
    else:
        assert isinstance(out, bytes)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_any_json_value_as_creds_loads_or_is_corrupt(value: Any) -> None:
    try:
        creds_from_json(value, "creds.json")
    except CorruptStoreError as exc:
        assert "creds.json" in str(exc)


_json_categories = st.sampled_from(
    ["sender-key-memory", "app-state-sync-version", "device-list", "tctoken"]
)


@settings(max_examples=300, deadline=None)
@given(_json_categories, _json)
def test_native_json_values_convert_only_to_what_baileys_reads_back(
    category: str, value: Any
) -> None:
    # A damaged native value must not become a Baileys file that Baileys (and we) misread.
    name = f"db:{category}/x"
    try:
        out = value_to_baileys(category, baileys_json.dumps(value), name)
    except CorruptStoreError as exc:
        assert name in str(exc)
    else:
        assert value_from_baileys(category, out, name) == baileys_json.dumps(out)


@pytest.mark.parametrize(
    ("category", "native", "problem"),
    [
        ("device-list", b'{"0":"1"}', "must be a JSON array of strings"),
        ("device-list", b'["0",1]', "must be a JSON array of strings"),
        ("app-state-sync-version", b'{"hash":"AAAA"}', "needs a Buffer hash"),
        ("tctoken", b'"token"', "a tctoken must be a JSON object"),
        ("sender-key-memory", b"[]", "a sender-key-memory must be a JSON object"),
    ],
)
def test_misshapen_native_json_values_are_corrupt(
    category: str, native: bytes, problem: str
) -> None:
    with pytest.raises(CorruptStoreError, match=f"^db:x: .*{problem}"):
        value_to_baileys(category, native, "db:x")
