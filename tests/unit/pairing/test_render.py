"""Terminal QR rendering: the drawn text encodes exactly the QR code's modules."""

from __future__ import annotations

import io

import pytest

from wamd.errors import UsageError
from wamd.events import QRCode
from wamd.pairing import print_qr, render_qr
from wamd.pairing.render import qr_matrix

QR = "https://wa.me/settings/linked_devices#2@abc,AAAA,BBBB,CCCC,1"

_TOP = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}


def _from_half_blocks(text: str, rows: int) -> list[list[bool]]:
    out: list[list[bool]] = []
    for line in text.splitlines():
        out.append([_TOP[c][0] for c in line])
        out.append([_TOP[c][1] for c in line])
    return out[:rows]


@pytest.mark.parametrize("dark_terminal", [True, False])
def test_half_blocks_draw_every_module(dark_terminal: bool) -> None:
    matrix = qr_matrix(QR)
    text = render_qr(QR, dark_terminal=dark_terminal)
    drawn = _from_half_blocks(text, len(matrix))
    # On a dark terminal the light modules are the drawn ones.
    assert drawn == [[cell != dark_terminal for cell in row] for row in matrix]
    assert len(text.splitlines()) == (len(matrix) + 1) // 2


def test_ascii_style_uses_two_characters_per_module() -> None:
    matrix = qr_matrix(QR)
    lines = render_qr(QR, style="ascii", dark_terminal=False).splitlines()
    assert len(lines) == len(matrix)
    assert [
        [line[2 * i] == "#" for i in range(len(row))]
        for line, row in zip(lines, matrix, strict=True)
    ] == matrix
    assert set("".join(lines)) <= {"#", " "}


def test_matrix_is_a_square_qr_with_finder_patterns_and_quiet_zone() -> None:
    m = qr_matrix(QR)
    size = len(m)
    assert all(len(row) == size for row in m)
    assert not any(m[0]) and not any(row[0] for row in m)  # quiet zone
    assert all(m[2][2:9])  # top edge of the top-left finder pattern


def test_print_qr_accepts_an_event_and_writes_to_the_given_stream() -> None:
    out = io.StringIO()
    print_qr(QRCode(QR, attempt=1, expires_in=60.0), file=out)
    assert out.getvalue() == render_qr(QR)


def test_print_qr_falls_back_to_ascii_when_the_stream_cannot_encode_blocks() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    print_qr(QR, file=out)
    assert raw.getvalue().decode("ascii") == render_qr(QR, style="ascii")


@pytest.mark.parametrize("bad", ["", 42, object()])
def test_print_qr_refuses_things_without_a_qr_string(bad: object) -> None:
    with pytest.raises(UsageError):
        print_qr(bad, file=io.StringIO())  # type: ignore[arg-type]


def test_unknown_style_is_refused() -> None:
    with pytest.raises(UsageError, match="style"):
        render_qr(QR, style="sixel")  # type: ignore[arg-type]
