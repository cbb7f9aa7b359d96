"""Real database servers for tests: a PostgreSQL cluster and a Redis server on 127.0.0.1.

Each is started once per test session, on first use (:func:`postgres_server`,
:func:`redis_server`), in its own temporary folder on a free port, and stopped when the
interpreter exits; both also die with the test process (``setpriv --pdeathsig``).

- PostgreSQL: ``initdb`` (trust authentication, user ``wamd``) and ``postgres`` run as
  the ``postgres`` user (or ``nobody``) when the tests run as root, since PostgreSQL
  refuses to run as root. ``fsync`` stays on; ``max_connections`` is 300 so a test can
  hold a hundred accounts open at once.
- Redis: ``appendonly yes`` with ``appendfsync always`` (every write fsynced before the
  reply: the durability the Redis backend documents) and no RDB snapshots.

A machine without the server binaries skips the tests that need them, except under CI
(``CI`` set), where a missing server fails the test: ``.ci/run`` installs both.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServerUnavailable",
    "postgres_server",
    "redis_server",
    "require_postgres",
    "require_redis",
]

_START_TIMEOUT = 30.0


class ServerUnavailable(Exception):
    """The server binaries are not installed here, or the server would not start."""


def _die_with_parent(sig: str) -> list[str]:
    """A command prefix that makes the server get ``sig`` when the test process dies.

    The kernel signals when the *thread* that started the server ends, so this is only
    used from the main thread (a server started from a worker thread relies on atexit).
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, f"--pdeathsig={sig}", "--"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerUnavailable(f"server exited with {proc.returncode}: {_tail(log)}")
        if ready():
            return
        time.sleep(0.05)
    proc.kill()
    raise ServerUnavailable(f"server not ready after {_START_TIMEOUT} s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-800:]
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes] | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


class PostgresServer:
    """A throwaway PostgreSQL cluster; :attr:`dsn` connects as superuser ``wamd``."""

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="wamd-pg-"))
        self.port = _free_port()
        self.user: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            self.user = _unprivileged_user()
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        with self.log.open("wb") as out:
            initdb = [str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust"]
            initdb += ["-U", "wamd", "-E", "UTF8", "--no-sync"]
            subprocess.run(
                initdb,
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=self.user,
                cwd=self.folder,
                timeout=120,
            )
        self.start()

    @property
    def dsn(self) -> str:
        """A connection URL for the ``postgres`` database."""
        return f"postgresql://wamd@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start (or restart) the server on its port and wait until it accepts queries."""
        if self._proc is not None and self._proc.poll() is None:
            return
        out = self.log.open("ab")
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "max_connections": "300",
            "shared_buffers": "16MB",
        }
        args = [*_die_with_parent("QUIT"), str(self.bindir / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        self._proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            user=self.user,
            cwd=self.folder,
        )
        out.close()
        _wait_until(self._ready, self._proc, self.log)

    def _ready(self) -> bool:
        probe = subprocess.run(
            [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
            timeout=10,
        )
        return probe.returncode == 0

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are ended)."""
        _stop(self._proc, signal.SIGINT)

    def cleanup(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class RedisServer:
    """A throwaway ``redis-server`` with an fsync-always append-only file."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerUnavailable("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.folder = Path(tempfile.mkdtemp(prefix="wamd-redis-"))
        self.port = _free_port()
        self.log = self.folder / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        """A connection URL for database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) the server; data written before comes back from the AOF."""
        if self._proc is not None and self._proc.poll() is None:
            return
        args = [*_die_with_parent("TERM"), self.binary, "--port", str(self.port)]
        args += ["--bind", "127.0.0.1"]
        args += ["--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always"]
        args += ["--save", "", "--daemonize", "no", "--logfile", str(self.log)]
        self._proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until(self._ready, self._proc, self.log)

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server."""
        _stop(self._proc, signal.SIGTERM)

    @property
    def pid(self) -> int:
        """The server's process id (setpriv execs the server in place)."""
        assert self._proc is not None
        return self._proc.pid

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        _stop(self._proc, signal.SIGKILL)

    def cleanup(self) -> None:
        """Stop the server and remove its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _postgres_bindir() -> Path:
    found = shutil.which("initdb")
    if found is not None:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise ServerUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
    return Path(candidates[-1]).parent


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServerUnavailable("running as root and no 'postgres' or 'nobody' user to run as")


_servers: dict[str, PostgresServer | RedisServer | ServerUnavailable] = {}


def _get(name: str, make: Callable[[], PostgresServer | RedisServer]) -> object:
    if name not in _servers:
        try:
            server = make()
        except (ServerUnavailable, subprocess.SubprocessError, OSError) as exc:
            _servers[name] = ServerUnavailable(f"{name}: {exc}")
        else:
            _servers[name] = server
            atexit.register(server.cleanup)
    got = _servers[name]
    if isinstance(got, ServerUnavailable):
        raise got
    return got


def postgres_server() -> PostgresServer:
    """The session's PostgreSQL server (started on first call); ServerUnavailable if none."""
    server = _get("postgres", PostgresServer)
    assert isinstance(server, PostgresServer)
    server.start()  # a test may have stopped it
    return server


def redis_server() -> RedisServer:
    """The session's Redis server (started on first call); ServerUnavailable if none."""
    server = _get("redis", RedisServer)
    assert isinstance(server, RedisServer)
    server.start()
    return server


def _require(get: Callable[[], PostgresServer | RedisServer]) -> object:
    try:
        return get()
    except ServerUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have this server: {exc}")
        pytest.skip(str(exc))


def require_postgres() -> PostgresServer:
    """:func:`postgres_server`, or skip the test (fail it under CI) if there is none."""
    server = _require(postgres_server)
    assert isinstance(server, PostgresServer)
    return server


def require_redis() -> RedisServer:
    """:func:`redis_server`, or skip the test (fail it under CI) if there is none."""
    server = _require(redis_server)
    assert isinstance(server, RedisServer)
    return server
