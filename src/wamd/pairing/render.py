"""Draw a linking QR code as text, for terminals and logs (no TTY needed)."""

from __future__ import annotations

import sys
from typing import Literal, Protocol, TextIO

import qrcode
import qrcode.constants

from wamd.errors import UsageError

__all__ = ["print_qr", "qr_matrix", "render_qr"]

Style = Literal["half-blocks", "ascii"]

_BORDER = 2  # quiet zone, in modules; scanners need some light margin
_HALF = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}


class _HasQR(Protocol):
    @property
    def qr(self) -> str: ...


def _qr_text(source: str | _HasQR) -> str:
    text = source if isinstance(source, str) else getattr(source, "qr", None)
    if not isinstance(text, str) or not text:
        raise UsageError(
            f"print_qr needs a QR string or an event with a .qr string, got {type(source).__name__}"
        )
    return text


def qr_matrix(data: str) -> list[list[bool]]:
    """The modules of the QR code for ``data`` (True = dark), with a quiet zone around it."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=_BORDER)
    code.add_data(data)
    code.make(fit=True)
    return [[bool(cell) for cell in row] for row in code.get_matrix()]


def render_qr(
    source: str | _HasQR, *, style: Style = "half-blocks", dark_terminal: bool = True
) -> str:
    """The QR code for a QR string (or a ``QRCode`` event) as lines of text.

    ``half-blocks`` packs two module rows into one line with ▀ ▄ █; ``ascii`` draws each
    module as two ``#`` or two spaces (for outputs without Unicode). With
    ``dark_terminal`` the light modules are drawn, so the code reads right on a dark
    background; pass False for light backgrounds.
    """
    matrix = qr_matrix(_qr_text(source))
    lit = [[cell != dark_terminal for cell in row] for row in matrix]
    if style == "ascii":
        return "\n".join("".join("##" if on else "  " for on in row) for row in lit) + "\n"
    if style != "half-blocks":
        raise UsageError(f"QR style must be 'half-blocks' or 'ascii', got {style!r}")
    width = len(lit[0])
    lines = []
    for top_i in range(0, len(lit), 2):
        top = lit[top_i]
        bottom = lit[top_i + 1] if top_i + 1 < len(lit) else [False] * width
        lines.append("".join(_HALF[(t, b)] for t, b in zip(top, bottom, strict=True)))
    return "\n".join(lines) + "\n"


def print_qr(
    source: str | _HasQR,
    *,
    file: TextIO | None = None,
    style: Style | None = None,
    dark_terminal: bool = True,
) -> None:
    """Print a QR string or a ``QRCode`` event as a scannable code.

    Writes to ``file`` (default stdout). Without a ``style`` it uses half blocks when the
    output's encoding can write them and plain ASCII otherwise.
    """
    out = sys.stdout if file is None else file
    if style is None:
        style = "half-blocks"
        encoding = getattr(out, "encoding", None)  # None: an in-memory stream takes any str
        if encoding is not None:
            try:
                "▀▄█".encode(encoding)
            except (UnicodeEncodeError, LookupError):
                style = "ascii"
    out.write(render_qr(source, style=style, dark_terminal=dark_terminal))
    out.flush()
