"""BufferJSON and JSON.stringify as Baileys uses them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.auth import baileys_json
from wamd.errors import CorruptStoreError


def test_bytes_are_written_as_base64_buffer_objects() -> None:
    assert baileys_json.dumps({"k": b"\x00\x01\xff"}) == b'{"k":{"type":"Buffer","data":"AAH/"}}'


def test_base64_buffer_objects_are_revived() -> None:
    assert baileys_json.loads(b'{"k":{"type":"Buffer","data":"AAH/"}}', "f") == {
        "k": b"\x00\x01\xff"
    }


def test_legacy_integer_keyed_objects_are_revived_in_numeric_order() -> None:
    assert baileys_json.loads('{"1":7,"0":5,"2":300}', "f") == bytes([5, 7, 300 % 256])


def test_legacy_form_needs_numbers_only() -> None:
    assert baileys_json.loads('{"0":true}', "f") == {"0": True}
    assert baileys_json.loads('{"0":"5"}', "f") == {"0": "5"}
    assert baileys_json.loads("{}", "f") == {}


def test_int_array_buffer_objects_are_read_leniently() -> None:
    assert baileys_json.loads('{"type":"Buffer","data":[1,2,3]}', "f") == b"\x01\x02\x03"


def test_integer_keys_come_first_in_ascending_order_as_in_javascript() -> None:
    value = {"b": 1, "10": 2, "2": 3, "a": 4, "01": 5}
    assert baileys_json.to_json_text(value) == '{"2":3,"10":2,"b":1,"a":4,"01":5}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (float("nan"), "null"),
        ('é\u2028\x01"\\', '"é\u2028\\u0001\\"\\\\"'),
        ("\ud800", '"\\ud800"'),
        ([None, True, False], "[null,true,false]"),
    ],
)
def test_scalars_are_written_as_javascript_writes_them(value: Any, text: str) -> None:
    assert baileys_json.to_json_text(value) == text


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b'{"a":', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"NaN", "not valid JSON"),
        (b'{"type":"Buffer","data":"@@@"}', "not a base64 string"),
    ],
)
def test_bad_files_raise_corrupt_store_error_naming_the_file(data: bytes, problem: str) -> None:
    with pytest.raises(CorruptStoreError, match=r"pre-key-1\.json") as info:
        baileys_json.loads(data, "pre-key-1.json")
    assert problem in str(info.value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text() | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet="abcxyz_", min_size=1), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150)
@given(_json)
def test_dumps_then_loads_gives_the_value_back(value: Any) -> None:
    assert baileys_json.loads(baileys_json.dumps(value), "f") == value
