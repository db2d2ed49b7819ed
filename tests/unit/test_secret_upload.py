"""ensure.secret never prints a secret, even at pyinfra's most verbose, and the file is never
readable by others. files.put, with the same value, is the control: it prints it under --diff."""

from __future__ import annotations

import subprocess
import sys

import pytest

from operations.model import REPO

CANARY = "sk-canary-unit-4242"
DEPLOY = """
import sys
sys.path.insert(0, {repo!r})
from io import BytesIO
from pyinfra.operations import files
from operations import ensure
from operations.snapshot import Snapshot
if {control!r}:
    files.put(name="secret", src=BytesIO(b"KEY={canary}"), dest={dest!r}, mode="600")
else:
    ensure.secret(Snapshot(), "secret", {dest!r}, "KEY={canary}", {staging!r})
"""


def deploy(tmp_path, control: bool) -> str:
    dest, staging = tmp_path / "out" / "key.env", tmp_path / "out" / "staging"
    dest.parent.mkdir()
    script = tmp_path / "deploy.py"
    script.write_text(DEPLOY.format(repo=str(REPO), control=control, canary=CANARY,
                                    dest=str(dest), staging=str(staging)))
    out = subprocess.run([sys.executable, "-m", "pyinfra", "-y", "--debug", "--diff", "-vvv",
                          "@local", str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert dest.read_text() == f"KEY={CANARY}"
    if not control:
        assert dest.stat().st_mode & 0o777 == 0o600
        assert staging.stat().st_mode & 0o777 == 0o700 and not list(staging.iterdir())
    return out.stdout + out.stderr


@pytest.mark.parametrize("control", [True, False], ids=["files.put", "ensure.secret"])
def test_secret_never_printed(tmp_path, control):
    printed = CANARY in deploy(tmp_path, control)
    assert printed == control, "files.put should print it (control)" if control else "leaked"
