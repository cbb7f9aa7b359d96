"""What every benchmark here does alike: run its node side, describe the machine, stamp the time."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_node(script: Path, *args: object, timeout: float) -> Any:
    """Run ``node script args...`` and return the JSON its last line of output holds."""
    done = subprocess.run(
        ["node", str(script), *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def now_utc() -> str:
    """The current time as ``YYYY-MM-DD HH:MM UTC``, for a results file."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def machine() -> dict[str, Any]:
    """Platform, processor, CPU count and Python version of this machine."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }


def machine_line() -> str:
    """This machine in one line: platform, architecture and CPU count."""
    return f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs"
