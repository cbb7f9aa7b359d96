"""Long fuzz run of the frame reader and the Noise handshake parsers.

Runs the seeded mutation fuzzer of ``tests/unit/noise/fuzz_harness.py`` (the bounded CI
test uses the same harness) for a million inputs by default, in batches with their own
seeds, and writes the result to ``benchmarks/results/fuzz_frames.md`` and ``.json``.
Findings (inputs that raised anything but a WamdError, or broke a buffer bound) are
written in full to the JSON for replay, and make the script exit with status 1.

    .venv/bin/python fuzz/fuzz_frames.py [--inputs 1000000] [--seed 1] [--batch 50000]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.unit.noise.fuzz_harness import TARGETS, Corpus, Finding, run  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    corpus = Corpus()
    inputs: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    findings: list[Finding] = []
    slowest, slowest_target = 0.0, ""
    started = time.perf_counter()
    done = 0
    batch_no = 0
    while done < args.inputs:
        n = min(args.batch, args.inputs - done)
        seed = args.seed * 1_000_003 + batch_no
        stats = run(n, seed, corpus)
        inputs.update(stats.inputs)
        outcomes.update(stats.outcomes)
        findings += stats.findings
        if stats.slowest > slowest:
            slowest, slowest_target = stats.slowest, stats.slowest_target
        done += n
        batch_no += 1
        rate = done / (time.perf_counter() - started)
        print(f"{done:>9,} inputs  {rate:,.0f}/s  findings {len(findings)}", flush=True)
    seconds = time.perf_counter() - started

    report = {
        "inputs": done,
        "seed": args.seed,
        "batch": args.batch,
        "seconds": round(seconds, 1),
        "inputs_per_second": round(done / seconds),
        "slowest_input_ms": round(slowest * 1000, 3),
        "slowest_target": slowest_target,
        "per_target": {name: inputs[name] for name, _ in TARGETS},
        "outcomes": dict(sorted(outcomes.items())),
        "findings": [
            {
                "target": f.target,
                "problem": f.problem,
                "data_hex": f.data.hex(),
                "chunks": list(f.chunks),
                "limit": f.limit,
            }
            for f in findings
        ],
        "python": platform.python_version(),
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "fuzz_frames.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / "fuzz_frames.md").write_text(_markdown(report))
    print(f"{done:,} inputs in {seconds:.0f} s, {len(findings)} findings")
    return 1 if findings else 0


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def _markdown(report: dict[str, object]) -> str:
    per_target = report["per_target"]
    outcomes = report["outcomes"]
    findings = report["findings"]
    assert isinstance(per_target, dict) and isinstance(outcomes, dict)
    assert isinstance(findings, list)
    lines = [
        "# Fuzzing the frame reader and the Noise handshake parsers",
        "",
        f"`.venv/bin/python fuzz/fuzz_frames.py --inputs {report['inputs']} "
        f"--seed {report['seed']}` on {report['date']} (commit {report['commit']}, "
        f"Python {report['python']}).",
        "",
        "Seeded mutation fuzzing (bit flips, edge bytes, inserted/deleted/duplicated ranges, "
        "truncation, forged 3-byte lengths and protobuf varints, splices between seeds, plus "
        "10% purely random inputs) of valid intros, handshake frames, certificate chains and "
        "coalesced transport frames. Reader inputs are fed in random chunks with a random "
        "frame limit (16 MiB, 1000, 40 or 0 bytes). Contract: only `WamdError` subclasses "
        "escape, the reader's buffer stays within one partial intro or frame, and it never "
        "returns more bytes than it was given.",
        "",
        f"- inputs: **{report['inputs']:,}** in {report['seconds']} s "
        f"({report['inputs_per_second']:,}/s)",
        f"- findings: **{len(findings)}**",
        f"- slowest single input: {report['slowest_input_ms']} ms ({report['slowest_target']})",
        "",
        "| target | inputs |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {count:,} |" for name, count in per_target.items()]
    lines += ["", "| target: outcome | count |", "|---|---:|"]
    lines += [f"| {key} | {count:,} |" for key, count in outcomes.items()]
    if findings:
        lines += ["", "## Findings", ""]
        lines += [f"- {f['target']}: {f['problem']}" for f in findings[:50]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
