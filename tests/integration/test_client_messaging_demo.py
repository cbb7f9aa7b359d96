"""``wamd demo`` ends with two accounts exchanging texts, receipts included."""

from __future__ import annotations

import io
import re

from wamd.cli import main


def test_demo_exchanges_texts_both_ways_with_receipts() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["demo"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    steps = [line for line in out.getvalue().splitlines() if line.startswith("[demo]")]
    joined = "\n".join(steps)
    sent = re.findall(r"sent '([^']+)' to \S+ \(id (\w+)\)", joined)
    assert [text for text, _ in sent] == ["Hello, second!", "Hi first, got it"]
    for text, msg_id in sent:
        decrypted = joined.index(f"decrypted on the other side: {text!r}")
        receipt = joined.index(f"delivery receipt for {msg_id}")
        assert joined.index(f"id {msg_id})") < decrypted < receipt
    assert "second account linked and logged in as 15550002222:1@s.whatsapp.net" in joined
    assert "restarting" in joined and joined.index("restarting") < joined.index("sent '")
    assert steps[-1] == "[demo] done: clean exit"
