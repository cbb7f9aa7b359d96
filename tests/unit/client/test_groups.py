"""Group metadata: parsing the group node and w:gp2 notifications, applying changes, the LRU."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.binary import Node
from wamd.client.group_metadata import (
    GroupCache,
    apply_event,
    build_metadata_query,
    parse_group,
    parse_group_notification,
    participant_hash,
)
from wamd.errors import StanzaError, UsageError
from wamd.events import (
    GroupMetadata,
    GroupParticipant,
    GroupParticipantsUpdate,
    GroupUpdate,
    GroupUpsert,
)

GROUP = "120363095440186860@g.us"
ALICE_LID = "100015550001111@lid"
BOB_LID = "100015550002222@lid"
CAROL_LID = "100015550003333@lid"


def group_node() -> Node:
    """The group node of fake-server.md §7.8 (three members, Alice superadmin)."""
    return Node(
        "group",
        {
            "id": "120363095440186860",
            "subject": "Test Group",
            "creation": "1795440144",
            "creator": ALICE_LID,
            "creator_pn": "15550001111@s.whatsapp.net",
            "s_t": "1795440150",
            "s_o": ALICE_LID,
            "addressing_mode": "lid",
            "size": "3",
        },
        [
            Node(
                "participant",
                {
                    "jid": ALICE_LID,
                    "phone_number": "15550001111@s.whatsapp.net",
                    "type": "superadmin",
                },
            ),
            Node("participant", {"jid": BOB_LID, "phone_number": "15550002222@s.whatsapp.net"}),
            Node("participant", {"jid": CAROL_LID, "type": "admin"}),
        ],
    )


def notification(*changes: Node, t: str = "1795440200") -> Node:
    attrs = {"from": GROUP, "type": "w:gp2", "id": "srv.13", "t": t, "participant": ALICE_LID}
    return Node("notification", attrs, list(changes))


def test_parse_group_reads_every_field() -> None:
    meta = parse_group(group_node())
    assert meta.id == GROUP
    assert (meta.subject, meta.creator, meta.creation) == ("Test Group", ALICE_LID, 1795440144)
    assert (meta.creator_pn, meta.subject_owner, meta.subject_time) == (
        "15550001111@s.whatsapp.net",
        ALICE_LID,
        1795440150,
    )
    assert meta.addressing_mode == "lid"
    assert meta.member_jids == (ALICE_LID, BOB_LID, CAROL_LID)
    alice, bob, carol = meta.participants
    assert alice.superadmin and alice.admin
    assert not bob.admin and not bob.superadmin and bob.phone_number == "15550002222@s.whatsapp.net"
    assert carol.admin and not carol.superadmin and carol.phone_number is None
    assert meta.participant("15550002222@s.whatsapp.net") == bob
    assert meta.participant(CAROL_LID) == carol
    assert meta.participant("19999999999@s.whatsapp.net") is None


def test_parse_group_defaults_and_errors() -> None:
    bare = parse_group(Node("group", {"id": "1203630000@g.us"}))
    assert bare.id == "1203630000@g.us" and bare.addressing_mode == "pn"
    assert bare.participants == () and bare.creator is None and bare.subject_time is None
    with pytest.raises(StanzaError, match="no id"):
        parse_group(Node("group", {"subject": "x"}))
    with pytest.raises(StanzaError, match="expected a <group>"):
        parse_group(Node("groups", {"id": "1"}))
    with pytest.raises(StanzaError, match="no jid"):
        parse_group(Node("group", {"id": "1"}, [Node("participant", {})]))


def test_metadata_query_shape() -> None:
    node = build_metadata_query(GROUP)
    assert node.attrs == {"to": GROUP, "type": "get", "xmlns": "w:g2"}
    query = node.get_child("query")
    assert query is not None and query.attrs == {"request": "interactive"}


def test_notifications_become_events() -> None:
    added = Node(
        "add",
        {},
        [Node("participant", {"jid": BOB_LID, "phone_number": "15550002222@s.whatsapp.net"})],
    )
    subject = Node("subject", {"subject": "Renamed", "s_t": "1795440200"})
    described = Node("description", {"id": "abc"})
    events = parse_group_notification(notification(added, subject, described))
    assert events == [
        GroupParticipantsUpdate(
            GROUP,
            "add",
            (GroupParticipant(BOB_LID, "15550002222@s.whatsapp.net"),),
            ALICE_LID,
            1795440200,
        ),
        GroupUpdate(GROUP, "subject", ALICE_LID, 1795440200, "Renamed"),
        GroupUpdate(GROUP, "description", ALICE_LID, 1795440200),
    ]
    created = parse_group_notification(
        notification(Node("create", {"reason": "create"}, [group_node()]))
    )
    assert created == [GroupUpsert(parse_group(group_node()), ALICE_LID)]


def test_bad_notifications_raise() -> None:
    with pytest.raises(StanzaError, match="no 'from'"):
        parse_group_notification(Node("notification", {"type": "w:gp2", "id": "1"}))
    with pytest.raises(StanzaError, match="no <group>"):
        parse_group_notification(notification(Node("create", {})))
    with pytest.raises(StanzaError, match="no jid"):
        parse_group_notification(notification(Node("remove", {}, [Node("participant", {})])))


def change(action: str, *who: GroupParticipant) -> GroupParticipantsUpdate:
    return GroupParticipantsUpdate(GROUP, action, who, ALICE_LID, 1)


def test_apply_membership_changes() -> None:
    meta = parse_group(group_node())
    dave = GroupParticipant("100015550004444@lid", "15550004444@s.whatsapp.net")
    grown = apply_event(meta, change("add", dave))
    assert grown is not None and grown.member_jids[-1] == dave.jid
    assert apply_event(grown, change("add", dave)) == grown  # already a member
    by_number = GroupParticipant("other@lid", "15550002222@s.whatsapp.net")
    shrunk = apply_event(meta, change("remove", by_number))
    assert shrunk is not None and shrunk.member_jids == (ALICE_LID, CAROL_LID)
    left = apply_event(meta, change("leave", GroupParticipant(CAROL_LID)))
    assert left is not None and left.member_jids == (ALICE_LID, BOB_LID)
    promoted = apply_event(meta, change("promote", GroupParticipant(BOB_LID)))
    assert promoted is not None and promoted.participants[1].admin
    demoted = apply_event(meta, change("demote", GroupParticipant(CAROL_LID)))
    assert demoted is not None and not demoted.participants[2].admin
    assert apply_event(meta, change("promote", dave)) is None  # unknown member: ask again


def test_apply_other_changes() -> None:
    meta = parse_group(group_node())
    renamed = apply_event(meta, GroupUpdate(GROUP, "subject", BOB_LID, 1795449999, "New"))
    assert renamed is not None
    assert (renamed.subject, renamed.subject_owner, renamed.subject_time) == (
        "New",
        BOB_LID,
        1795449999,
    )
    assert renamed.participants == meta.participants
    assert apply_event(meta, GroupUpdate(GROUP, "announcement", BOB_LID, 1)) is None
    other = GroupMetadata(GROUP, "fresh", None, 0, "lid", ())
    assert apply_event(meta, GroupUpsert(other)) == other


members = st.lists(st.integers(min_value=1, max_value=40), unique=True, max_size=8)


@settings(max_examples=60, deadline=None)
@given(start=members, added=members)
def test_adding_then_removing_gives_back_the_others(start: list[int], added: list[int]) -> None:
    def person(n: int) -> GroupParticipant:
        return GroupParticipant(f"{1000 + n}@lid", f"{n}@s.whatsapp.net")

    meta = GroupMetadata(GROUP, "s", None, 0, "lid", tuple(person(n) for n in start))
    grown = apply_event(meta, change("add", *(person(n) for n in added)))
    assert grown is not None
    assert set(grown.member_jids) == {person(n).jid for n in start + added}
    assert len(grown.member_jids) == len(set(start + added))
    shrunk = apply_event(grown, change("remove", *(person(n) for n in added)))
    assert shrunk is not None
    assert shrunk.member_jids == tuple(person(n).jid for n in start if n not in added)


def meta_of(n: int) -> GroupMetadata:
    return GroupMetadata(f"12036300000{n}@g.us", f"g{n}", None, 0, "lid", ())


def test_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    cache = GroupCache(2)
    one, two, three = meta_of(1), meta_of(2), meta_of(3)
    cache.put(one)
    cache.put(two)
    assert cache.get(one.id) == one  # one is now the most recently used
    cache.put(three)
    assert len(cache) == 2
    assert one.id in cache and three.id in cache and two.id not in cache
    assert cache.get(two.id) is None
    assert cache.drop(one.id) and not cache.drop(one.id)
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(UsageError):
        GroupCache(0)


def test_participant_hash() -> None:
    devices = ["100015550002222:1@lid", "100015550001111@lid", "15550003333:2@s.whatsapp.net"]
    joined = "100015550001111.0:0@lid100015550002222.0:1@lid15550003333.0:2@s.whatsapp.net"
    digest = hashlib.sha256(joined.encode()).digest()[:6]
    expected = "2:" + base64.b64encode(digest).decode().rstrip("=")
    assert participant_hash(devices) == expected
    assert participant_hash(reversed(devices)) == expected
    assert participant_hash(devices[:2]) != expected
    assert len(expected) == 10
