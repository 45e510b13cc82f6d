"""`python -m latchkey.flow_engine keygen`: the command signing key, printed or kept in a file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from latchkey.runtime.signing import load_private_key, public_key_of


def keygen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "latchkey.flow_engine", "keygen", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_printed_key_and_public_key_belong_together() -> None:
    done = keygen()
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    private = first.removeprefix("LATCHKEY_SIGNING_KEY=")
    assert second == f"public key: {public_key_of(load_private_key(private))}"


def test_a_key_file_is_written_once_and_kept(tmp_path: Path) -> None:
    private, public = tmp_path / "signing.key", tmp_path / "control-plane.pub"
    made = keygen("--private-key-file", str(private), "--public-key-file", str(public))
    assert made.returncode == 0, made.stderr
    key = private.read_text().strip()
    assert key not in made.stdout, "a key written to a file is not printed"
    assert private.stat().st_mode & 0o777 == 0o600
    assert public.read_text().strip() == public_key_of(load_private_key(key))

    again = keygen("--private-key-file", str(private), "--public-key-file", str(public))
    assert again.returncode == 0 and "kept" in again.stdout
    assert private.read_text().strip() == key, "a second run (every `docker compose up`) keeps the key"


def test_a_file_without_a_usable_key_is_refused_and_left_alone(tmp_path: Path) -> None:
    private = tmp_path / "signing.key"
    private.write_text("not a key\n")
    done = keygen("--private-key-file", str(private))
    assert done.returncode == 2
    assert "holds no usable signing key" in done.stderr
    assert private.read_text() == "not a key\n"
