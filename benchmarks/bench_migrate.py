"""Benchmark ``wamd migrate`` on a large Baileys folder, side by side with Baileys.

In one run, on the same disk, for a large auth state (2,000 pre-keys, 500 sessions, 200
sender keys and creds; the dataset of ``bench_auth.py``):

- Baileys copying the folder to a new folder with ``useMultiFileAuthState`` (read all,
  ``keys.set`` all, ``saveCreds``; no fsync, no verification) — the floor for any tool
  that moves such a folder;
- ``wamd migrate`` folder -> native, the same again (nothing to do), native -> folder,
  folder -> folder, and a dry run; each one reads everything, writes durably (fsync) in
  one atomic batch, and reads everything back to verify.

Writes ``benchmarks/results/migrate.json`` and ``migrate.md``.

    .venv/bin/python benchmarks/bench_migrate.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_auth import SEED, build_stores, make_dataset  # noqa: E402
from common import machine_line, now_utc, run_node  # noqa: E402

from wamd.auth.baileys_keys import file_name  # noqa: E402
from wamd.auth.migrate import migrate_stores  # noqa: E402

RESULTS = HERE / "results"
NODE_SCRIPT = HERE / "node" / "bench_migrate.mjs"


async def _time(src: Path, dst: Path, *, dry_run: bool = False) -> tuple[float, bool]:
    t0 = time.perf_counter()
    report = await migrate_stores(str(src), str(dst), dry_run=dry_run)
    return (time.perf_counter() - t0) * 1000, report.changed


async def wamd_runs(work: Path, folder: Path, repeats: int) -> dict[str, float]:
    """Median milliseconds of each migration, over ``repeats`` fresh destinations."""
    runs: dict[str, list[float]] = {}
    for r in range(repeats):
        db = work / f"m{r}.db"
        plan = [
            ("folder_to_native_ms", folder, db, False, True),
            ("again_no_change_ms", folder, db, False, False),
            ("native_to_folder_ms", db, work / f"back{r}", False, True),
            ("folder_to_folder_ms", folder, work / f"copy{r}", False, True),
            ("dry_run_ms", folder, work / f"dry{r}.db", True, True),
        ]
        for name, src, dst, dry, changes in plan:
            ms, changed = await _time(src, dst, dry_run=dry)
            assert changed == changes, name
            runs.setdefault(name, []).append(ms)
    return {k: statistics.median(v) for k, v in runs.items()}


def baileys_copy(work: Path, folder: Path, ids: dict[str, list[str]], repeats: int) -> Any:
    spec = {
        "src": str(folder),
        "dstPrefix": str(work / "baileys-copy"),
        "ids": ids,
        "repeats": repeats,
    }
    spec_path = work / "spec.json"
    spec_path.write_text(json.dumps(spec))
    return run_node(NODE_SCRIPT, spec_path, timeout=900)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    dataset = make_dataset(random.Random(SEED))
    ids = {c: list(v) for c, v in dataset.items()}
    n_keys = sum(len(v) for v in ids.values())
    with tempfile.TemporaryDirectory(prefix="wamd-bench-migrate-", dir=args.dir) as tmp:
        work = Path(tmp)
        _, folder = await build_stores(work, dataset)
        node = baileys_copy(work, folder, ids, args.repeats)
        assert node["keys"] == n_keys, node
        wamd = await wamd_runs(work, folder, args.repeats)
        # The round trip gives Baileys' files back, byte for byte.
        for category, items in ids.items():
            for key_id in items[:: max(1, len(items) // 50)]:
                name = file_name(category, key_id)
                assert (work / "back0" / name).read_bytes() == (folder / name).read_bytes()
    return {
        "measured_at": now_utc(),
        "machine": machine_line(),
        "python": platform.python_version(),
        "node": node["node"],
        "keys": n_keys,
        "repeats": args.repeats,
        "baileys": {"folder_copy_ms": node["copy_ms"]},
        "wamd": wamd,
    }


def write_results(r: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "migrate.json").write_text(json.dumps(r, indent=2) + "\n")
    w, b = r["wamd"], r["baileys"]
    rows = [
        ("Baileys: copy folder -> new folder (no fsync, no verify)", b["folder_copy_ms"]),
        ("wamd migrate folder -> native (new)", w["folder_to_native_ms"]),
        ("wamd migrate folder -> native, again (nothing to do)", w["again_no_change_ms"]),
        ("wamd migrate native -> folder (new)", w["native_to_folder_ms"]),
        ("wamd migrate folder -> folder (new)", w["folder_to_folder_ms"]),
        ("wamd migrate --dry-run folder -> native", w["dry_run_ms"]),
    ]
    lines = [
        "# Migration: wamd migrate vs Baileys copying its own folder",
        "",
        f"Measured {r['measured_at']} by `.venv/bin/python benchmarks/bench_migrate.py` (both",
        f"sides in the same run, on the same disk; median of {r['repeats']} runs each).",
        f"The auth state: {r['keys']:,} keys (2,000 pre-keys, 500 sessions, 200 sender keys)",
        "and creds. wamd reads everything, writes it durably in one atomic batch and reads",
        "everything back to verify; Baileys only reads and writes (no fsync, no check).",
        "",
        "| operation | time |",
        "|---|---:|",
        *[f"| {name} | {ms:,.0f} ms |" for name, ms in rows],
        "",
        f"Machine: {r['machine']} (shared with other jobs); Python {r['python']}, "
        f"node {r['node']}.",
        "",
    ]
    (RESULTS / "migrate.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to put the temporary stores")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    write_results(results)
    print((RESULTS / "migrate.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
