"""The application's group metadata cache: the ``group_metadata_cache`` option of ``connect``.

A connection keeps group metadata in its own LRU (:mod:`wamd.client.groups`). An
application that runs many connections, or restarts often, can give each one a cache of
its own making, so that metadata one connection learnt saves the others (and the next
start) a query:

- an object with ``async get(group) -> GroupMetadata | None`` and ``async set(group,
  metadata_or_None)`` (:class:`GroupMetadataCache`): consulted when the connection's own
  LRU has no entry, and written whenever the connection learns, changes or drops one
  (``None`` forgets it);
- or a function ``group -> GroupMetadata | None`` (sync or async), like Baileys'
  ``cachedGroupMetadata``: only read; the application keeps it up to date itself (from
  the group events).

:class:`MemoryGroupMetadataCache` is one for connections in one process;
:func:`metadata_to_json` and :func:`metadata_from_json` turn metadata into text for a
shared store (Redis, a database).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeAlias, runtime_checkable

from wamd.errors import CorruptStoreError, UsageError
from wamd.events import GroupMetadata, GroupParticipant

__all__ = [
    "GroupMetadataCache",
    "GroupMetadataLookup",
    "GroupMetadataSource",
    "MemoryGroupMetadataCache",
    "SharedGroupCache",
    "check_source",
    "metadata_from_json",
    "metadata_to_json",
]

log = logging.getLogger(__name__)


@runtime_checkable
class GroupMetadataCache(Protocol):
    """A cache of group metadata the application provides (shared, persistent, ...)."""

    async def get(self, group: str) -> GroupMetadata | None:
        """The metadata of ``group`` (a ``…@g.us`` JID), or None when not known."""
        ...

    async def set(self, group: str, metadata: GroupMetadata | None) -> None:
        """Store the metadata of ``group``; None forgets it."""
        ...


GroupMetadataLookup: TypeAlias = Callable[
    [str], "Awaitable[GroupMetadata | None] | GroupMetadata | None"
]
"""A read-only lookup: the metadata of a group JID, or None (sync or async)."""

GroupMetadataSource: TypeAlias = "GroupMetadataCache | GroupMetadataLookup"
"""What ``group_metadata_cache`` accepts: a :class:`GroupMetadataCache` or a lookup."""


def check_source(source: object) -> None:
    """Raise :class:`~wamd.errors.UsageError` unless ``source`` is a cache or a lookup."""
    if isinstance(source, GroupMetadataCache):
        return
    if callable(source):
        return
    raise UsageError(
        "group_metadata_cache must be an object with async get(group) and "
        f"set(group, metadata) methods, or a function of a group JID; got {type(source)!r}"
    )


class MemoryGroupMetadataCache:
    """A :class:`GroupMetadataCache` in a dict: share one between connections in a process."""

    def __init__(self) -> None:
        self._entries: dict[str, GroupMetadata] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, group: object) -> bool:
        return group in self._entries

    def __repr__(self) -> str:
        return f"<MemoryGroupMetadataCache {len(self._entries)} groups>"

    async def get(self, group: str) -> GroupMetadata | None:
        """The stored metadata of ``group``, or None."""
        return self._entries.get(group)

    async def set(self, group: str, metadata: GroupMetadata | None) -> None:
        """Store (or, with None, forget) the metadata of ``group``."""
        if metadata is None:
            self._entries.pop(group, None)
        else:
            self._entries[group] = metadata


class SharedGroupCache:
    """How a connection uses the application's cache: failures are logged, never raised.

    A cache that fails (a Redis that is down) must not stop a send: a failed ``get`` is
    a miss (the server is asked), a failed ``set`` is logged and skipped. An entry that
    is not a :class:`~wamd.events.GroupMetadata` of the asked group is ignored.
    """

    def __init__(self, source: GroupMetadataSource) -> None:
        check_source(source)
        self._source = source
        self.writable = isinstance(source, GroupMetadataCache)

    def __repr__(self) -> str:
        return f"<SharedGroupCache {self._source!r}>"

    async def get(self, group: str) -> GroupMetadata | None:
        """The application's metadata of ``group``, or None (unknown, unusable or failed)."""
        source = self._source
        try:
            found: Any = (
                source.get(group) if isinstance(source, GroupMetadataCache) else source(group)
            )
            if inspect.isawaitable(found):
                found = await found
        except Exception as exc:  # the application's code: any failure is a miss
            log.warning("group_metadata_cache failed to get %s: %r", group, exc)
            return None
        if found is None:
            return None
        if not isinstance(found, GroupMetadata) or found.id != group:
            log.warning(
                "group_metadata_cache gave %s for %s, not its GroupMetadata; ignored",
                type(found).__name__,
                group,
            )
            return None
        return found

    async def set(self, group: str, metadata: GroupMetadata | None) -> None:
        """Tell a writable cache what ``group`` is now (None: forget it)."""
        source = self._source
        if not isinstance(source, GroupMetadataCache):
            return
        try:
            await source.set(group, metadata)
        except Exception as exc:  # the application's code: logged, the send goes on
            log.warning("group_metadata_cache failed to set %s: %r", group, exc)


# -- text form -----------------------------------------------------------------------------

_FIELDS = ("id", "subject", "creator", "creation", "addressing_mode")
_OPTIONAL = ("subject_owner", "subject_time", "creator_pn")


def metadata_to_json(meta: GroupMetadata) -> str:
    """``meta`` as a JSON object (read back by :func:`metadata_from_json`)."""
    data: dict[str, object] = {name: getattr(meta, name) for name in (*_FIELDS, *_OPTIONAL)}
    data["participants"] = [
        [p.jid, p.phone_number, p.admin, p.superadmin] for p in meta.participants
    ]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def metadata_from_json(text: str | bytes) -> GroupMetadata:
    """The metadata :func:`metadata_to_json` wrote; :class:`~wamd.errors.CorruptStoreError`
    if ``text`` is not that."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        members = tuple(_member(m) for m in data["participants"])
        meta = GroupMetadata(
            id=_str(data["id"]),
            subject=_str(data["subject"]),
            creator=_opt_str(data["creator"]),
            creation=_int(data["creation"]),
            addressing_mode=_str(data["addressing_mode"]),
            participants=members,
            subject_owner=_opt_str(data.get("subject_owner")),
            subject_time=None if data.get("subject_time") is None else _int(data["subject_time"]),
            creator_pn=_opt_str(data.get("creator_pn")),
        )
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise CorruptStoreError(f"stored group metadata is not readable: {exc}") from None
    return meta


def _member(value: object) -> GroupParticipant:
    if not isinstance(value, list) or len(value) != 4:
        raise TypeError("a participant is not [jid, phone_number, admin, superadmin]")
    jid, phone, admin, superadmin = value
    if not isinstance(admin, bool) or not isinstance(superadmin, bool):
        raise TypeError("a participant's admin flags are not booleans")
    return GroupParticipant(_str(jid), _opt_str(phone), admin, superadmin)


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value
