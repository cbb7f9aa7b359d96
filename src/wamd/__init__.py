"""wamd: a pure-protocol asyncio client for WhatsApp's multi-device protocol."""

from wamd.errors import WamdError

__all__ = ["WamdError", "__version__"]

__version__ = "0.1.0.dev0"
