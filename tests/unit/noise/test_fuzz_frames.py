"""Bounded fuzzing of the frame reader and the handshake parsers (the long run is
``fuzz/fuzz_frames.py``): only WamdError subclasses, buffers within their bounds."""

from __future__ import annotations

import os

from tests.unit.noise.fuzz_harness import TARGETS, run

INPUTS = 20_000
SEED = int(os.environ.get("WAMD_FUZZ_SEED", "20251125"))


def test_frame_reader_and_handshake_parsers_survive_random_and_mutated_input() -> None:
    stats = run(INPUTS, SEED)
    assert stats.total == INPUTS
    assert stats.findings == [], stats.findings[:3]
    for name, _ in TARGETS:
        assert stats.inputs[name] > 300, name
        errors = sum(
            n
            for key, n in stats.outcomes.items()
            if key.startswith(f"{name}: ") and not key.endswith(": ok")
        )
        assert errors > 0, f"{name} never refused an input"
        if name != "transport-decrypt":  # nothing forged decrypts under a random key
            assert stats.outcomes[f"{name}: ok"] > 0, f"{name} never accepted an input"
