"""The wamd command: exit codes, messages, and what inspect/migrate/demo print."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wamd.auth.backends.baileys import BaileysFolderBackend
from wamd.cli import main

SAMPLE = "baileys-auth-sample"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_help_lists_commands_and_store_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in ("migrate", "inspect", "demo", "sqlite:PATH", "PATH.db#ID"):
        assert word in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required"),
        (["bogus"], "invalid choice"),
        (["migrate", "only-one"], "required: DST"),
        (["migrate", "a", "b", "--colour"], "unrecognized arguments"),
        (["demo", "--pre-keys", "many"], "invalid int value"),
        (["inspect", "sqlite:"], "needs a file path"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_inspect_shows_account_and_counts_but_no_secrets(shared_fixtures: Path) -> None:
    folder = shared_fixtures / SAMPLE / "after-qr-pairing-and-login"
    code, out, err = run("inspect", str(folder))
    assert code == 0, err
    assert "15550001111:7@s.whatsapp.net" in out
    assert "platform: smbi" in out
    assert "registered: no" in out
    assert "pre-key                 5" in out
    assert "lid-mapping             2" in out
    creds_text = (folder / "creds.json").read_text()
    creds = json.loads(creds_text)
    for secret in (
        creds["advSecretKey"],
        creds["noiseKey"]["private"]["data"],
        creds["signedIdentityKey"]["private"]["data"],
    ):
        assert secret not in out
    for pre_key in folder.glob("pre-key-*.json"):
        assert json.loads(pre_key.read_text())["private"]["data"] not in out


def test_inspect_lists_unknown_files_and_writes_nothing(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "auth"
    shutil.copytree(shared_fixtures / SAMPLE / "two-party-session" / "A", folder)
    (folder / "README.txt").write_text("hello")
    before = sorted(p.name for p in folder.iterdir())
    code, out, _ = run("inspect", str(folder))
    assert code == 0
    assert "unknown files (left alone): 1" in out and "README.txt" in out
    assert "session                 1" in out
    assert sorted(p.name for p in folder.iterdir()) == before


def test_inspect_of_a_missing_store_exits_1(tmp_path: Path) -> None:
    code, _, err = run("inspect", str(tmp_path / "nope"))
    assert code == 1
    assert "no such auth folder" in err
    code, _, err = run("inspect", str(tmp_path / "nope.db"))
    assert code == 1
    assert "no such native store" in err


def test_migrate_then_again_then_back(shared_fixtures: Path, tmp_path: Path) -> None:
    src = shared_fixtures / SAMPLE / "two-party-session" / "B"
    db = tmp_path / "wamd.db"
    code, out, err = run("migrate", str(src), str(db))
    assert code == 0, err
    assert "pre-key" in out and "wrote 2" in out
    assert "verified" in out
    code, out, _ = run("migrate", str(src), str(db))
    assert code == 0
    assert "already up to date" in out
    back = tmp_path / "back"
    code, out, _ = run("migrate", f"{db}#default", str(back))
    assert code == 0
    for f in src.iterdir():
        assert (back / f.name).read_bytes() == f.read_bytes()


def test_migrate_dry_run_and_force(shared_fixtures: Path, tmp_path: Path) -> None:
    a = shared_fixtures / SAMPLE / "two-party-session" / "A"
    b = shared_fixtures / SAMPLE / "two-party-session" / "B"
    dst = tmp_path / "dst.db"
    code, out, _ = run("migrate", "--dry-run", str(a), str(dst))
    assert code == 0 and "would write" in out and "nothing was written" in out
    assert not dst.exists()
    assert run("migrate", str(a), str(dst))[0] == 0
    code, _, err = run("migrate", str(b), str(dst))
    assert code == 1
    assert "different account" in err and "--force" in err
    code, out, _ = run("migrate", "--force", str(b), str(dst))
    assert code == 0
    assert "replacing account" in out


def test_migrate_of_a_corrupt_folder_exits_1_and_writes_nothing(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    shutil.copytree(shared_fixtures / SAMPLE / "two-party-session" / "A", src)
    (src / "creds.json").chmod(0o600)
    (src / "creds.json").write_text("{")
    code, _, err = run("migrate", str(src), str(tmp_path / "out.db"))
    assert code == 1
    assert "creds.json" in err and "not valid JSON" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out.db").exists()


async def test_migrate_into_a_locked_folder_exits_1(shared_fixtures: Path, tmp_path: Path) -> None:
    holder = await BaileysFolderBackend.open(tmp_path / "dst")
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "wamd.cli",
                "migrate",
                str(shared_fixtures / SAMPLE / "two-party-session" / "A"),
                str(tmp_path / "dst"),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        await holder.close()
    assert proc.returncode == 1
    assert "in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_progress_bar_goes_to_stderr_on_request(shared_fixtures: Path, tmp_path: Path) -> None:
    src = shared_fixtures / SAMPLE / "after-qr-pairing-and-login"
    code, out, err = run("migrate", "--progress", str(src), str(tmp_path / "p.db"))
    assert code == 0
    assert "16/16 keys" in err and "[" in err
    assert "keys]" not in out
    code, _, err = run("migrate", str(src), str(tmp_path / "q.db"))
    assert err == ""  # not a terminal and no --progress


def test_demo_creates_creds_and_pre_keys_and_shows_public_parts(tmp_path: Path) -> None:
    store = tmp_path / "demo.db"
    code, out, err = run("demo", "--store", str(store), "--pre-keys", "3")
    assert code == 0, err
    assert "creds: created" in out
    assert "signature valid" in out
    assert "pre-key 3 (public)" in out
    assert "keys: pre-key 3" in out
    code, out, _ = run("demo", "--store", str(store), "--pre-keys", "2")
    assert "creds: loaded" in out
    assert "pre-key 5 (public)" in out and "keys: pre-key 5" in out
    code, out, _ = run("inspect", str(store))
    assert "pre-key ids: next 6" in out


def test_demo_without_store_uses_a_temporary_one() -> None:
    code, out, _ = run("demo", "--pre-keys", "0")
    assert code == 0
    assert "temporary store" in out
    path = out.split("store: ", 1)[1].split("\n", 1)[0]
    assert not Path(path).exists()


def test_migrate_into_an_encrypted_store_and_inspect_it(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("ab" * 32 + "\n")
    src = shared_fixtures / SAMPLE / "after-qr-pairing-and-login"
    db = tmp_path / "enc.db"
    code, out, err = run("migrate", "--dst-key-file", str(key_file), str(src), str(db))
    assert code == 0, err
    assert "verified" in out
    code, _, err = run("inspect", str(db))
    assert code == 1
    assert "encryption_key" in err
    code, out, _ = run("inspect", "--key-file", str(key_file), str(db))
    assert code == 0
    assert "15550001111:7@s.whatsapp.net" in out
    back = tmp_path / "back"
    code, _, _ = run("migrate", "--src-key-file", str(key_file), str(db), str(back))
    assert code == 0
    assert (back / "creds.json").read_bytes() == (src / "creds.json").read_bytes()


@pytest.mark.parametrize("content", [b"short", b"zz" * 32, b""])
def test_bad_key_file_is_a_usage_error(tmp_path: Path, content: bytes) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(content)
    code, _, err = run("inspect", "--key-file", str(key_file), str(tmp_path / "x.db"))
    assert code == 2
    assert "must hold 32 bytes" in err
    code, _, err = run("inspect", "--key-file", str(tmp_path / "missing"), str(tmp_path / "x.db"))
    assert code == 2 and "cannot read key file" in err


def test_inspect_names_the_other_accounts_of_a_native_file(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    db = tmp_path / "bots.db"
    for name, folder in (("a", "two-party-session/A"), ("b", "two-party-session/B")):
        assert run("migrate", str(shared_fixtures / SAMPLE / folder), f"{db}#{name}")[0] == 0
    code, out, _ = run("inspect", f"{db}#a")
    assert code == 0
    assert "1111111111:0@s.whatsapp.net" in out
    assert "other accounts in this file: b" in out
