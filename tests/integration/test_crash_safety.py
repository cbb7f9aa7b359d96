"""Crash safety with real processes: SIGKILL a transaction writer hundreds of times.

The work is done by ``crash_harness.py`` (see its docstring for the invariants it checks):
it forks a writer, kills it with SIGKILL at a random moment, and forks a verifier that
reopens the store and checks durability and atomicity, round after round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("crash_harness.py")

# (backend, rounds in the CI run): keeps the whole file well under a minute.
CI_ROUNDS = {"native": 200, "native-encrypted": 40, "baileys": 150}


def _run_harness(backend: str, folder: Path, rounds: int, seed: int) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "--backend",
            backend,
            "--dir",
            str(folder),
            "--rounds",
            str(rounds),
            "--max-ms",
            "100",
            "--seed",
            str(seed),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.stdout.strip(), done.stderr
    summary: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["failures"] == [], summary
    assert done.returncode == 0, done.stderr
    return summary


@pytest.mark.parametrize("backend", sorted(CI_ROUNDS))
def test_killed_writer_never_loses_or_half_applies_a_commit(backend: str, tmp_path: Path) -> None:
    rounds = CI_ROUNDS[backend]
    summary = _run_harness(backend, tmp_path, rounds, seed=20261125)
    assert summary["rounds"] == rounds
    # Most kills must land in the middle of a stream of commits, or the test proves little.
    assert isinstance(summary["kills_after_some_commits"], int)
    assert summary["kills_after_some_commits"] >= rounds // 2
    assert isinstance(summary["transactions_reported"], int)
    assert summary["transactions_reported"] > rounds


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("WAMD_SLOW"), reason="set WAMD_SLOW=1 (minutes per backend)")
@pytest.mark.parametrize("backend", sorted(CI_ROUNDS))
def test_killed_writer_many_more_rounds(backend: str, tmp_path: Path) -> None:
    summary = _run_harness(backend, tmp_path, 1500, seed=7)
    assert summary["rounds"] == 1500
