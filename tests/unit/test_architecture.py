"""Guards for the architecture of design.md: layering, the sans-IO core, secrets, docs.

Each check is a small pure function over source text (or over an object), so the
``test_checker_*`` tests can feed it a deliberately broken input and prove it objects.

Layering (design.md "Layout and who may import whom"), as decided here:

* ``errors`` is the floor: every layer may import it, and it imports nothing of ours.
* ``crypto``, ``binary``, ``_proto``: nothing of ours but ``errors``.
* ``noise``, ``signal``: those three. ``pairing`` (sans-IO pairing maths): ``crypto`` and
  ``_proto``. The sans-IO core never imports ``events``: it returns values, the client
  turns them into user events.
* ``events``: ``errors`` only; from ``auth`` upwards anyone may import it.
* ``auth``: ``signal`` and below. ``messages``: ``auth`` and below, plus ``pairing``.
  Neither needs ``noise``: the transport is the client's business.
* ``client``: everything but ``testing``, ``cli`` and the package root.
* ``testing``: everything but ``client``, ``messages``, ``cli`` and the package root: it
  stays an independent peer of the client, so it can judge it (its own
  ``test_testing_never_imports_the_client_layer`` draws the same line).
* ``cli`` (``cli.py``, ``cli_link.py``): anything. The package root (``wamd/__init__``):
  anything but ``testing`` and ``cli``.

Sans-IO rule for ``crypto``, ``binary``, ``noise``, ``signal`` and ``pairing``: no import of
an event loop, thread, process, socket, clock, file-system or non-cryptographic random
module (:data:`FORBIDDEN_IN_CORE`); from ``os`` only ``os.urandom`` (the default when no
randomness is passed in); no call of the builtins ``open``, ``input`` or ``print``; no
``datetime``/``date`` clock read (``now``, ``utcnow``, ``today``). ``sys`` is refused too,
except in ``pairing/render.py``, whose ``print_qr`` defaults its output stream to stdout.
``signal/repository.py`` and ``signal/store.py`` are async by contract (they drive the
key store), so they alone may import ``asyncio``; everything else still holds for them.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import wamd

SRC = Path(wamd.__file__).resolve().parent
GENERATED = "_proto"

# --- discovering modules and their imports --------------------------------------------------


def module_name(path: Path) -> str:
    """The dotted module name of a file under ``src/wamd``."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(*, generated: bool = False) -> list[Path]:
    """Every module of wamd; the ``_proto`` package (generated code) only if ``generated``."""
    return sorted(
        p for p in SRC.rglob("*.py") if generated or GENERATED not in p.relative_to(SRC).parts
    )


@dataclass(frozen=True)
class Import:
    """One import statement (or import_module/__import__ literal) found in a file."""

    importer: str
    target: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {self.importer} imports {self.target}"


def imports_in(source: str, module: str, where: str, *, is_package: bool = False) -> list[Import]:
    """Every module ``source`` imports, anywhere (functions and TYPE_CHECKING included).

    ``from X import a`` yields ``X.a`` (``a`` may be a submodule); relative imports are
    resolved against ``module``. String literals given to ``importlib.import_module`` or
    ``__import__`` count as imports too.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [Import(module, alias.name, line) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            found += [Import(module, f"{origin}.{alias.name}", line) for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.append(Import(module, first.value, line))
    return found


def file_imports(path: Path) -> list[Import]:
    """The imports of one file of the package."""
    return imports_in(
        path.read_text(encoding="utf-8"),
        module_name(path),
        str(path.relative_to(SRC.parent.parent)),
        is_package=path.name == "__init__.py",
    )


# --- layering -----------------------------------------------------------------------------

ROOT = "wamd (package root)"
_CORE_BASE = frozenset({"errors", "crypto", "binary", "_proto"})
_BELOW_AUTH = frozenset({"errors", "events", "crypto", "binary", "_proto", "signal"})
_ALL = frozenset(
    {
        "errors",
        "events",
        "crypto",
        "binary",
        "_proto",
        "noise",
        "signal",
        "pairing",
        "auth",
        "messages",
        "client",
        "testing",
        "cli",
        ROOT,
    }
)

ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "events": frozenset({"errors"}),
    "crypto": frozenset({"errors"}),
    "binary": frozenset({"errors"}),
    "_proto": frozenset({"errors"}),
    "noise": _CORE_BASE,
    "signal": _CORE_BASE,
    "pairing": frozenset({"errors", "crypto", "_proto"}),
    "auth": _BELOW_AUTH,
    "messages": _BELOW_AUTH | {"auth", "pairing"},
    "client": _ALL - {"testing", "cli", ROOT},
    "testing": _ALL - {"client", "messages", "cli", ROOT},
    "cli": _ALL,
    ROOT: _ALL - {"testing", "cli"},
}
"""For each layer, the layers of ours its modules may import (besides its own)."""

_LAYER_ALIASES = {"cli_link": "cli", "__version__": ROOT, "__main__": ROOT}


def layer_of(module: str) -> str:
    """The layer a ``wamd...`` module belongs to (its first component below ``wamd``)."""
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT
    return _LAYER_ALIASES.get(parts[1], parts[1])


def layering_violations(found: Iterable[Import]) -> list[str]:
    """The imports among ``found`` that break :data:`ALLOWED`, one line each."""
    bad: list[str] = []
    for imp in found:
        if imp.target != "wamd" and not imp.target.startswith("wamd."):
            continue
        src, dst = layer_of(imp.importer), layer_of(imp.target)
        if src not in ALLOWED:
            bad.append(f"{imp.where}: layer {src!r} is not in the layer table; add it")
        elif src != dst and dst not in ALLOWED[src]:
            bad.append(f"{imp}  ({src} may not import {dst})")
    return bad


def test_every_module_imports_only_from_its_own_or_lower_layers() -> None:
    found = [imp for path in source_files(generated=True) for imp in file_imports(path)]
    assert any(imp.target.startswith("wamd.") for imp in found)  # the scan sees our imports
    bad = layering_violations(found)
    assert not bad, "imports that break the layering of design.md:\n" + "\n".join(bad)


def test_every_package_has_a_row_in_the_layer_table() -> None:
    layers = {layer_of(module_name(p)) for p in source_files(generated=True)}
    assert layers - set(ALLOWED) == set(), "new layer: decide what it may import"


@pytest.mark.parametrize(
    ("module", "source", "offender"),
    [
        ("wamd.crypto.curve", "from wamd.signal import keys\n", "wamd.signal.keys"),
        ("wamd.binary.decode", "def f():\n    import wamd.noise\n", "wamd.noise"),
        ("wamd.signal.ratchet", "from ..auth import creds\n", "wamd.auth.creds"),
        ("wamd.pairing.qr", "from wamd.binary import Node\n", "wamd.binary.Node"),
        ("wamd.auth.state", "from wamd.messages import send\n", "wamd.messages.send"),
        ("wamd.messages.send", "from wamd.noise import FrameReader\n", "wamd.noise.FrameReader"),
        ("wamd.testing.phone", "from wamd.client import connect\n", "wamd.client.connect"),
        ("wamd.testing.phone", "from wamd.messages import send\n", "wamd.messages.send"),
        ("wamd.testing.server", "import wamd\n", "wamd"),
        ("wamd.client.connect", "from wamd import cli\n", "wamd.cli"),
        ("wamd.events", "from wamd.binary import Jid\n", "wamd.binary.Jid"),
        ("wamd.errors", "from wamd.events import Event\n", "wamd.events.Event"),
        (
            "wamd.auth.backends.memory",
            "import importlib\nimportlib.import_module('wamd.client.socket')\n",
            "wamd.client.socket",
        ),
        ("wamd.crypto.aes", "mod = __import__('wamd.noise')\n", "wamd.noise"),
    ],
)
def test_checker_flags_an_upward_import_with_its_file_and_line(
    module: str, source: str, offender: str
) -> None:
    bad = layering_violations(imports_in(source, module, "f.py"))
    assert len(bad) == 1
    assert f"imports {offender} " in bad[0]
    assert re.match(r"f\.py:\d+: ", bad[0])


def test_checker_accepts_downward_and_own_layer_imports() -> None:
    source = "from wamd.errors import WamdError\nfrom . import curve\nfrom .hashes import hkdf\n"
    assert layering_violations(imports_in(source, "wamd.crypto.aes", "f.py")) == []
    source = "from wamd.signal import keys\nfrom wamd.events import Message\nimport wamd.binary\n"
    assert layering_violations(imports_in(source, "wamd.messages.send", "f.py")) == []


def test_checker_resolves_relative_imports_in_a_package_init() -> None:
    found = imports_in("from .curve import KeyPair\n", "wamd.crypto", "f.py", is_package=True)
    assert [imp.target for imp in found] == ["wamd.crypto.curve.KeyPair"]
    found = imports_in("from ..noise import x\n", "wamd.crypto", "f.py", is_package=True)
    assert layering_violations(found) != []


# --- sans-IO --------------------------------------------------------------------------------

SANS_IO_LAYERS = ("crypto", "binary", "noise", "signal", "pairing")
ASYNC_BY_CONTRACT = frozenset({"wamd.signal.repository", "wamd.signal.store"})
FORBIDDEN_IN_CORE = frozenset(
    {
        "asyncio",
        "concurrent",
        "glob",
        "http",
        "multiprocessing",
        "pathlib",
        "random",
        "selectors",
        "shutil",
        "socket",
        "sqlite3",
        "ssl",
        "subprocess",
        "sys",
        "tempfile",
        "threading",
        "time",
        "urllib",
        "websockets",
    }
)
"""Top-level modules the sans-IO core never imports (see the module docstring)."""
SYS_ALLOWED_IN = frozenset({"wamd.pairing.render"})
_OS_ALLOWED = frozenset({"urandom"})
_IO_BUILTINS = frozenset({"open", "input", "print"})
_CLOCK_READS = frozenset({"now", "utcnow", "today"})


def sans_io_violations(source: str, module: str, where: str) -> list[str]:
    """What in ``source`` breaks the sans-IO rule for ``module``, one line each."""
    bad: list[str] = []
    allowed = set()
    if module in ASYNC_BY_CONTRACT:
        allowed.add("asyncio")
    if module in SYS_ALLOWED_IN:
        allowed.add("sys")
    for imp in imports_in(source, module, where):
        top = imp.target.split(".")[0]
        if top in FORBIDDEN_IN_CORE - allowed:
            bad.append(f"{imp.where}: {module} imports {imp.target} (I/O, clock or event loop)")
        elif top == "os" and imp.target not in ("os", *(f"os.{n}" for n in _OS_ALLOWED)):
            bad.append(f"{imp.where}: {module} imports {imp.target} (only os.urandom is allowed)")
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner, attr = node.value.id, node.attr
            if owner == "os" and attr not in _OS_ALLOWED:
                bad.append(f"{line}: {module} uses os.{attr} (only os.urandom is allowed)")
            if owner in ("datetime", "date") and attr in _CLOCK_READS:
                bad.append(f"{line}: {module} reads the clock ({owner}.{attr}); pass it in")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _IO_BUILTINS
        ):
            bad.append(f"{line}: {module} calls {node.func.id}() (I/O)")
    return bad


def test_the_sans_io_core_does_no_io_reads_no_clock_and_runs_no_event_loop() -> None:
    files = [p for p in source_files() if layer_of(module_name(p)) in SANS_IO_LAYERS]
    assert len(files) > 20  # the selection really found the core
    bad = [
        line
        for path in files
        for line in sans_io_violations(
            path.read_text(encoding="utf-8"),
            module_name(path),
            str(path.relative_to(SRC.parent.parent)),
        )
    ]
    assert not bad, "sans-IO rule broken:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("module", "source", "what"),
    [
        ("wamd.noise.handshake", "import asyncio\n", "imports asyncio"),
        ("wamd.crypto.curve", "def f():\n    import time\n    return time.time()\n", "time"),
        ("wamd.binary.decode", "from socket import socket\n", "socket.socket"),
        ("wamd.signal.keys", "import os\nos.listdir('.')\n", "os.listdir"),
        ("wamd.signal.keys", "from os import environ\n", "os.environ"),
        ("wamd.signal.keys", "from os.path import join\n", "os.path.join"),
        ("wamd.pairing.code", "from pathlib import Path\n", "pathlib.Path"),
        ("wamd.pairing.code", "def f():\n    return open('x').read()\n", "open()"),
        ("wamd.pairing.qr", "import sys\n", "imports sys"),
        ("wamd.signal.repository", "import time\n", "imports time"),
        ("wamd.signal.repository", "import socket\n", "imports socket"),
        ("wamd.signal.ratchet", "import asyncio\n", "imports asyncio"),
        (
            "wamd.noise.certificate",
            "from datetime import datetime\ndef f():\n    return datetime.now()\n",
            "datetime.now",
        ),
        ("wamd.crypto.aes", "import random\n", "imports random"),
    ],
)
def test_checker_flags_io_in_the_core(module: str, source: str, what: str) -> None:
    bad = sans_io_violations(source, module, "f.py")
    assert bad, f"{what} went unnoticed"
    assert any(what in line for line in bad), bad


def test_checker_allows_urandom_and_the_documented_exceptions() -> None:
    ok = "import os\nfrom os import urandom\nx = os.urandom(32)\n"
    assert sans_io_violations(ok, "wamd.crypto.curve", "f.py") == []
    assert sans_io_violations("import asyncio\n", "wamd.signal.repository", "f.py") == []
    assert sans_io_violations("import sys\n", "wamd.pairing.render", "f.py") == []


# --- docstrings and __all__ ------------------------------------------------------------------


def _is_public(path: Path) -> bool:
    parts = path.relative_to(SRC).with_suffix("").parts
    return all(not part.startswith("_") or part == "__init__" for part in parts)


def missing_docstrings(paths: Iterable[Path], root: Path) -> list[str]:
    """The files among ``paths`` (named relative to ``root``) without a module docstring."""
    return [
        str(path.relative_to(root))
        for path in paths
        if ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]


def test_every_public_module_has_a_docstring() -> None:
    public = [p for p in source_files() if _is_public(p)]
    assert len(public) > 50
    assert missing_docstrings(public, SRC.parent.parent) == []


def test_checker_notices_a_module_without_docstring(tmp_path: Path) -> None:
    (tmp_path / "bare.py").write_text("import os\n", encoding="utf-8")
    (tmp_path / "doc.py").write_text('"""Says what."""\n', encoding="utf-8")
    assert missing_docstrings(sorted(tmp_path.iterdir()), tmp_path) == ["bare.py"]


def _importable_modules() -> Iterator[str]:
    yield "wamd"
    for info in pkgutil.walk_packages(wamd.__path__, "wamd."):
        if not info.name.endswith("__main__"):
            yield info.name


def dangling_all_names(module: Any) -> list[str]:
    """The names in ``module.__all__`` the module does not define."""
    names = getattr(module, "__all__", ())
    return [f"{module.__name__}.{n}" for n in names if not hasattr(module, n)]


def test_every_name_in_every_all_exists() -> None:
    modules = [importlib.import_module(name) for name in _importable_modules()]
    with_all = [m for m in modules if hasattr(m, "__all__")]
    assert len(with_all) > 20
    bad = [name for m in with_all for name in dangling_all_names(m)]
    assert bad == []
    duplicated = [m.__name__ for m in with_all if len(set(m.__all__)) != len(m.__all__)]
    assert duplicated == []


def test_checker_notices_a_dangling_all_name() -> None:
    fake = types.ModuleType("fake")
    fake.__dict__["__all__"] = ["present", "gone"]
    fake.present = 1  # type: ignore[attr-defined]
    assert dangling_all_names(fake) == ["fake.gone"]
