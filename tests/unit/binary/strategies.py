"""Hypothesis strategies for WABinary nodes (shared by the unit and interop tests)."""

from __future__ import annotations

import random

from hypothesis import strategies as st

from wamd.binary import Node
from wamd.binary._tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS

TOKENS = [t for t in SINGLE_BYTE_TOKENS if t] + [t for d in DOUBLE_BYTE_TOKENS for t in d]

# Names that Baileys' TOKEN_MAP (a plain JS object) finds on Object.prototype: Baileys
# writes them as byte 0, so they are kept out of the oracle comparisons.
JS_PROTOTYPE_NAMES = frozenset(
    {
        "constructor",
        "__proto__",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "toString",
        "valueOf",
    }
)

_users = st.one_of(
    st.integers(1, 10**15).map(str),
    st.text("0123456789", min_size=1, max_size=20),
    st.sampled_from(["status", "0", "server", "1", "abc", "x"]),
)
_devices = st.integers(0, 99)


@st.composite
def jids(draw: st.DrawFn) -> str:
    """JID strings of every kind the protocol uses, plus a few odd ones."""
    user = draw(_users)
    kind = draw(st.integers(0, 15))
    if kind == 0:
        return f"{user}@s.whatsapp.net"
    if kind == 1:
        return f"{user}:{draw(st.integers(1, 255))}@s.whatsapp.net"
    if kind == 2:
        return f"{user}@lid"
    if kind == 3:
        return f"{user}:{draw(_devices)}@lid"
    if kind == 4:
        return f"120363{draw(st.integers(10**11, 10**12))}@g.us"
    if kind == 5:
        return f"{user}-{draw(st.integers(10**9, 10**10))}@g.us"
    if kind == 6:
        return draw(st.sampled_from(["status@broadcast", f"{user}@broadcast"]))
    if kind == 7:
        return f"{user}@newsletter"
    if kind == 8:
        return draw(st.sampled_from(["@s.whatsapp.net", "@g.us", "@lid", "@broadcast", "@call"]))
    if kind == 9:
        return f"{user}:99@hosted"
    if kind == 10:
        return f"{user}:{draw(_devices)}@hosted.lid"
    if kind == 11:
        return f"{user}@bot"
    if kind == 12:
        return f"{user}@c.us"
    if kind == 13:  # agent forms: the wire cannot carry the agent
        return f"{user}_{draw(st.integers(0, 200))}:{draw(_devices)}@s.whatsapp.net"
    if kind == 14:  # device forms the AD_JID byte cannot carry
        return f"{user}:{draw(st.sampled_from(['256', '007', '', 'x', '1:2']))}@s.whatsapp.net"
    return f"{user}@{draw(st.sampled_from(['example.com', 'a@b', '', 'g.us@lid']))}"


_text = st.text(st.characters(codec="utf-8"), max_size=40)
_emoji = st.text(st.sampled_from("😀🌻👍🏽🇧🇷你好Ωé\u200d\n\t\x00"), min_size=1, max_size=20)

strings = st.one_of(
    st.sampled_from(TOKENS),
    st.text("0123456789.-", min_size=1, max_size=130),  # nibble-packable (up to 127)
    st.text("0123456789ABCDEF", min_size=1, max_size=130),  # hex-packable (up to 127)
    st.text("0123456789abcdef", min_size=1, max_size=40),  # lowercase hex: not packable
    jids(),
    _text,
    _emoji,
    st.just(""),
)
tags = st.one_of(
    st.sampled_from(TOKENS),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789_:-", min_size=1, max_size=16),
)
attrs = st.dictionaries(strings, strings, max_size=6)
contents = st.one_of(st.none(), st.binary(max_size=300), strings)


def nodes(max_leaves: int = 15) -> st.SearchStrategy[Node]:
    """Random node trees: token and free tags, all string kinds, bytes, nested lists."""
    leaf = st.builds(Node, tags, attrs, contents)
    return st.recursive(
        leaf,
        lambda children: st.builds(Node, tags, attrs, st.lists(children, max_size=8)),
        max_leaves=max_leaves,
    )


_WIDE_VALUES = [
    "1555123456:3@s.whatsapp.net",
    "987654321@lid",
    "status@broadcast",
    "3EB0ABCDEF0123",
    "1700000000",
    "Zoë 🌻",
    "",
    "read-self",
    "12.5-3",
    "a_1@s.whatsapp.net",
]


def _build_wide(seed: int) -> Node:
    rng = random.Random(seed)
    leaf_tags = [*rng.sample(TOKENS, 5), "custom-tag"]
    if rng.random() < 0.5:
        children = []
        for _ in range(rng.randrange(250, 301)):
            attrs = {rng.choice(TOKENS): rng.choice(_WIDE_VALUES) for _ in range(rng.randrange(3))}
            content = rng.choice(
                [None, rng.randbytes(rng.randrange(300)), rng.choice(_WIDE_VALUES)]
            )
            children.append(Node(rng.choice(leaf_tags), attrs, content))
        return Node("list", {}, children)
    attrs = {f"k{i}": rng.choice(_WIDE_VALUES) for i in range(rng.randrange(125, 140))}
    return Node(rng.choice(leaf_tags), attrs, rng.choice([None, b"\x01" * 300]))


def wide_nodes() -> st.SearchStrategy[Node]:
    """Nodes with many children (LIST_16 when 256 or more) or many attributes."""
    return st.integers(0, 2**32).map(_build_wide)
