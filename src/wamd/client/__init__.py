"""The connection: ``connect()``, :class:`Connection`, linking, login, reconnecting.

This is the only package that owns a websocket, timers and tasks; everything it
computes comes from the sans-IO layers below it.
"""

from wamd.client.config import DEFAULT_URL, ClientConfig
from wamd.client.connect import connect
from wamd.client.connection import Connection
from wamd.client.policy import ReconnectPolicy

__all__ = ["DEFAULT_URL", "ClientConfig", "Connection", "ReconnectPolicy", "connect"]
