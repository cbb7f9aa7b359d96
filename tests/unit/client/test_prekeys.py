"""Pre-key upload planning, storage before upload, and the upload stanza (protocol.md §5.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wamd
from wamd.client.prekeys import (
    INITIAL_PRE_KEY_COUNT,
    MIN_PRE_KEY_COUNT,
    newest_pre_key_missing,
    plan_upload,
    pre_key_upload_node,
    prepare_upload,
    upload_target,
)
from wamd.crypto import public_from_private, verify
from wamd.errors import CorruptStoreError


def test_targets_are_812_first_then_5() -> None:
    assert upload_target(0) == INITIAL_PRE_KEY_COUNT == 812
    assert upload_target(3) == MIN_PRE_KEY_COUNT == 5


def test_first_upload_plan() -> None:
    plan = plan_upload(1, 1, 812)
    assert list(plan.ids) == list(range(1, 813))
    assert (plan.new_from, plan.new_count) == (1, 812)
    assert (plan.next_pre_key_id, plan.first_unuploaded_pre_key_id) == (813, 813)


def test_unuploaded_keys_go_first_and_are_not_regenerated() -> None:
    # Keys 813..815 were generated but their upload never happened.
    plan = plan_upload(816, 813, 5)
    assert list(plan.ids) == [813, 814, 815, 816, 817]
    assert (plan.new_from, plan.new_count) == (816, 2)
    assert (plan.next_pre_key_id, plan.first_unuploaded_pre_key_id) == (818, 818)


@given(
    first=st.integers(min_value=1, max_value=100_000),
    pending=st.integers(min_value=0, max_value=2_000),
    target=st.integers(min_value=1, max_value=1_000),
)
def test_plan_invariants(first: int, pending: int, target: int) -> None:
    plan = plan_upload(first + pending, first, target)
    assert plan.count == target
    assert plan.first == first
    assert plan.new_count == max(0, target - pending)
    assert plan.first_unuploaded_pre_key_id == first + target
    assert plan.next_pre_key_id >= plan.first_unuploaded_pre_key_id
    assert plan.next_pre_key_id == max(first + pending, first + target)


def test_ids_past_three_bytes_are_refused() -> None:
    with pytest.raises(CorruptStoreError, match="damaged"):
        plan_upload(2**24 - 2, 2**24 - 2, 5)


async def test_prepare_upload_stores_keys_before_returning_and_advances_counters() -> None:
    auth = await wamd.memory_auth_state()
    state = auth.state
    keys, changed = await prepare_upload(state, 10)
    assert changed
    assert [k for k, _ in keys] == list(range(1, 11))
    stored = await state.keys.get("pre-key", [str(i) for i in range(1, 11)])
    for key_id, pair in keys:
        value = stored[str(key_id)]
        assert value == pair.private + pair.public
        assert public_from_private(value[:32]) == value[32:]
    assert (state.creds.next_pre_key_id, state.creds.first_unuploaded_pre_key_id) == (11, 11)
    assert not await newest_pre_key_missing(state)
    # A refill continues the numbering.
    more, _ = await prepare_upload(state, 5)
    assert [k for k, _ in more] == [11, 12, 13, 14, 15]


async def test_pending_keys_are_reused_not_replaced() -> None:
    auth = await wamd.memory_auth_state()
    state = auth.state
    first, _ = await prepare_upload(state, 5)
    state.creds.first_unuploaded_pre_key_id = 1  # as if the upload never happened
    again, changed = await prepare_upload(state, 5)
    assert again == first
    assert changed
    assert (state.creds.next_pre_key_id, state.creds.first_unuploaded_pre_key_id) == (6, 6)


async def test_newest_missing_is_noticed() -> None:
    auth = await wamd.memory_auth_state()
    auth.state.creds.next_pre_key_id = 30
    assert await newest_pre_key_missing(auth.state)


async def test_upload_node_layout() -> None:
    auth = await wamd.memory_auth_state()
    state = auth.state
    keys, _ = await prepare_upload(state, 3)
    node = pre_key_upload_node(state, keys)
    assert node.attrs == {"xmlns": "encrypt", "type": "set", "to": "@s.whatsapp.net"}
    assert [c.tag for c in node.children()] == ["registration", "type", "identity", "list", "skey"]
    creds = state.creds
    assert node.get_child("registration").content == creds.registration_id.to_bytes(4, "big")  # type: ignore[union-attr]
    assert node.get_child("type").content == b"\x05"  # type: ignore[union-attr]
    listed = node.get_child("list").children("key")  # type: ignore[union-attr]
    assert [k.get_child("id").content for k in listed] == [  # type: ignore[union-attr]
        i.to_bytes(3, "big") for i in (1, 2, 3)
    ]
    skey = node.get_child("skey")
    assert skey is not None
    value = skey.get_child("value").content  # type: ignore[union-attr]
    signature = skey.get_child("signature").content  # type: ignore[union-attr]
    assert isinstance(value, bytes) and isinstance(signature, bytes)
    assert verify(creds.signed_identity_key.public, b"\x05" + value, signature)
