"""The binary node: one XML-like element of a WhatsApp stanza."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Union

__all__ = ["Content", "Node"]

#: What a node may hold: nothing, raw bytes (large decoded contents as a read-only
#: ``memoryview`` of the received frame), text, or child nodes.
Content = Union[None, bytes, memoryview, str, list["Node"]]  # noqa: UP007 - a runtime alias

# str(node) shows at most this many bytes of binary content, and this many children.
_SHOW_BYTES = 32
_SHOW_TEXT = 200
_SHOW_CHILDREN = 50


class Node:
    """A WABinary node: ``tag``, string ``attrs`` (insertion order) and ``content``.

    ``content`` is ``None``, ``bytes``, ``str`` or a list of child nodes. Nodes decoded
    from the wire hold ``bytes`` for binary content -- a read-only ``memoryview`` of the
    frame, not a copy, from 16 KiB up (``wamd.binary.decode.VIEW_THRESHOLD``) -- and
    ``str`` for token, packed or JID content; use :meth:`content_bytes` where any of
    these may arrive.
    """

    __slots__ = ("attrs", "content", "tag")

    tag: str
    attrs: dict[str, str]
    content: Content

    def __init__(
        self, tag: str, attrs: dict[str, str] | None = None, content: Content = None
    ) -> None:
        self.tag = tag
        self.attrs = {} if attrs is None else attrs
        self.content = content

    # -- access helpers -------------------------------------------------------------

    def attr(self, name: str, default: str | None = None) -> str | None:
        """The value of attribute ``name``, or ``default`` when it is absent."""
        return self.attrs.get(name, default)

    def children(self, tag: str | None = None) -> list[Node]:
        """The child nodes (those with ``tag`` if given); empty when content is not a list."""
        content = self.content
        if not isinstance(content, list):
            return []
        if tag is None:
            return list(content)
        return [child for child in content if child.tag == tag]

    def get_child(self, tag: str) -> Node | None:
        """The first child node with ``tag``, or ``None``."""
        content = self.content
        if isinstance(content, list):
            for child in content:
                if child.tag == tag:
                    return child
        return None

    def content_bytes(self) -> bytes | None:
        """The content as bytes (text is UTF-8 encoded); ``None`` for no content or children."""
        content = self.content
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode("utf-8")
        if isinstance(content, bytearray | memoryview):
            return bytes(content)
        return None

    def __iter__(self) -> Iterator[Node]:
        """Iterate over the child nodes (nothing when content is not a list)."""
        content = self.content
        return iter(content) if isinstance(content, list) else iter(())

    # -- value behaviour --------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return self.tag == other.tag and self.attrs == other.attrs and self.content == other.content

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Node({self.tag!r}, {self.attrs!r}, {_short_content(self.content)})"

    def __str__(self) -> str:
        parts: list[str] = []
        _render(self, parts, 0)
        return "\n".join(parts)


def _short_content(content: Content) -> str:
    if isinstance(content, bytes | bytearray | memoryview):
        data = bytes(content[:_SHOW_BYTES])
        more = f"...+{len(content) - _SHOW_BYTES}" if len(content) > _SHOW_BYTES else ""
        return f"<{len(content)} bytes {data.hex()}{more}>"
    if isinstance(content, list):
        return f"[{len(content)} children]"
    if isinstance(content, str) and len(content) > _SHOW_TEXT:
        return repr(content[:_SHOW_TEXT]) + f"...+{len(content) - _SHOW_TEXT} chars"
    return repr(content)


def _render(node: Node, out: list[str], depth: int) -> None:
    pad = "  " * depth
    attrs = "".join(f' {k}="{_clip(v)}"' for k, v in node.attrs.items())
    content = node.content
    if content is None:
        out.append(f"{pad}<{node.tag}{attrs}/>")
    elif isinstance(content, list):
        out.append(f"{pad}<{node.tag}{attrs}>")
        for child in content[:_SHOW_CHILDREN]:
            if isinstance(child, Node):
                _render(child, out, depth + 1)
            else:
                out.append(f"{pad}  {child!r}")
        if len(content) > _SHOW_CHILDREN:
            out.append(f"{pad}  <!-- {len(content) - _SHOW_CHILDREN} more children -->")
        out.append(f"{pad}</{node.tag}>")
    elif isinstance(content, str):
        out.append(f"{pad}<{node.tag}{attrs}>{_clip(content)}</{node.tag}>")
    else:
        out.append(f"{pad}<{node.tag}{attrs}>{_short_content(content)}</{node.tag}>")


def _clip(text: str) -> str:
    if len(text) > _SHOW_TEXT:
        return text[:_SHOW_TEXT] + f"...(+{len(text) - _SHOW_TEXT} chars)"
    return text
