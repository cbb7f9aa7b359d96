"""The generated token tables: shape, known indices, and in sync with the generator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wamd.binary import _tokens
from wamd.binary._tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS

ROOT = Path(__file__).resolve().parents[3]


def test_token_table_shape() -> None:
    assert len(SINGLE_BYTE_TOKENS) == 236
    assert SINGLE_BYTE_TOKENS[0] == ""
    assert SINGLE_BYTE_TOKENS[1:4] == ("xmlstreamstart", "xmlstreamend", "s.whatsapp.net")
    assert SINGLE_BYTE_TOKENS[-1] == "screen_height"
    assert [len(d) for d in DOUBLE_BYTE_TOKENS] == [256, 256, 256, 256]
    assert DOUBLE_BYTE_TOKENS[0][0] == "read-self" and DOUBLE_BYTE_TOKENS[3][-1] == "1961"
    every = list(SINGLE_BYTE_TOKENS[1:]) + [t for d in DOUBLE_BYTE_TOKENS for t in d]
    assert len(set(every)) == len(every)


@pytest.mark.parametrize(
    ("token", "index"),
    [
        ("iq", 25),
        ("id", 8),
        ("to", 17),
        ("type", 4),
        ("get", 41),
        ("xmlns", 22),
        ("w:p", 87),
        ("ping", 86),
        ("enc", 29),
        ("pkmsg", 83),
        ("v", 81),
        ("2", 69),
        ("message", 19),
    ],
)
def test_known_token_indices(token: str, index: int) -> None:
    assert SINGLE_BYTE_TOKENS.index(token) == index


def test_generated_module_matches_generator(tmp_path: Path) -> None:
    source = ROOT / "tests/interop/node_modules/baileys/lib/WABinary/constants.js"
    if not source.exists():
        pytest.skip("baileys npm package not installed (make install)")
    generated = Path(_tokens.__file__).read_text()
    subprocess.run(
        [sys.executable, str(ROOT / "tools/gen_tokens.py")], check=True, capture_output=True
    )
    assert Path(_tokens.__file__).read_text() == generated
    assert "MIT" in generated.splitlines()[2] + generated.splitlines()[3]
