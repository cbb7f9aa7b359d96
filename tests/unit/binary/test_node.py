"""Node: helpers, equality and the readable, bounded str()."""

from __future__ import annotations

from wamd.binary import Node


def _sample() -> Node:
    return Node(
        "iq",
        {"id": "1", "type": "result"},
        [Node("item", {"n": "a"}), Node("other"), Node("item", {"n": "b"}, b"\x01\x02")],
    )


def test_child_helpers_find_children_by_tag() -> None:
    node = _sample()
    assert [c.attrs["n"] for c in node.children("item")] == ["a", "b"]
    assert len(node.children()) == 3
    first = node.get_child("item")
    assert first is not None and first.attrs["n"] == "a"
    assert node.get_child("missing") is None
    assert [c.tag for c in node] == ["item", "other", "item"]
    leaf = Node("x", {}, b"data")
    assert leaf.children() == [] and leaf.get_child("x") is None and list(leaf) == []


def test_attr_and_content_bytes() -> None:
    node = _sample()
    assert node.attr("id") == "1"
    assert node.attr("missing") is None
    assert node.attr("missing", "dflt") == "dflt"
    assert Node("x", {}, b"ab").content_bytes() == b"ab"
    assert Node("x", {}, "ü").content_bytes() == "ü".encode()
    assert Node("x").content_bytes() is None
    assert node.content_bytes() is None


def test_defaults_and_equality() -> None:
    assert Node("x").attrs == {} and Node("x").content is None
    assert Node("x").attrs is not Node("x").attrs
    assert _sample() == _sample()
    assert Node("x", {"a": "1"}) != Node("x", {"a": "2"})
    assert Node("x", {}, b"a") != Node("x", {}, "a")
    assert Node("x") != "x"


def test_str_is_xml_like_and_elides_big_bytes() -> None:
    text = str(_sample())
    assert text.splitlines()[0] == '<iq id="1" type="result">'
    assert '<item n="a"/>' in text and "<other/>" in text
    assert "</iq>" in text
    huge = Node("enc", {"v": "2"}, b"\xab" * 5_000_000)
    rendered = str(huge)
    assert len(rendered) < 300
    assert "5000000 bytes" in rendered
    assert len(repr(huge)) < 300


def test_str_bounds_many_children_and_long_text() -> None:
    many = Node("list", {}, [Node("item")] * 1000)
    assert len(str(many).splitlines()) < 60
    assert "950 more children" in str(many)
    assert len(str(Node("x", {"a": "y" * 100_000}, "z" * 100_000))) < 1000
