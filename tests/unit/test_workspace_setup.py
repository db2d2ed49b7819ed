"""files/entrypoint.d/50-workspace-setup: first-start defaults that never overwrite."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from operations.model import REPO

SCRIPT = REPO / "files/entrypoint.d/50-workspace-setup"


@pytest.fixture
def home(tmp_path):
    """A fake $HOME with the bundled files and a `code-server` that logs its calls."""
    bundled = tmp_path / "bundled"
    (bundled / "extensions").mkdir(parents=True)
    for name in ("README.md", "settings.json"):
        (bundled / name).write_text((REPO / "files/workspace" / name).read_text())
    (bundled / "extensions/sst-dev.opencode-1.18.33.vsix").write_text("vsix")
    (tmp_path / "home/project").mkdir(parents=True)
    (tmp_path / "home/.local/share/code-server").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "code-server"
    fake.write_text("#!/bin/sh\necho \"$@\" >> \"$CALLS\"\n")
    fake.chmod(0o755)
    script = tmp_path / "setup"
    skel = tmp_path / "skel"
    skel.mkdir()
    (skel / ".bashrc").write_text("# skel bashrc\n")
    (skel / ".profile").write_text("# skel profile\n")
    script.write_text(SCRIPT.read_text().replace("/usr/share/vscode-workspace", str(bundled))
                      .replace("SKEL=/etc/skel", f"SKEL={skel}"))
    script.chmod(0o755)
    return tmp_path


def run(home: Path) -> list[str]:
    calls = home / "calls"
    calls.write_text("")
    env = {**os.environ, "HOME": str(home / "home"), "CALLS": str(calls),
           "PATH": f"{home / 'bin'}:{os.environ['PATH']}"}
    subprocess.run([str(home / "setup")], env=env, check=True, capture_output=True)
    return calls.read_text().splitlines()


def test_first_start_writes_welcome_settings_and_installs_extension(home):
    calls = run(home)
    project = home / "home/project"
    assert "Ctrl+Esc" in (project / "README.md").read_text()
    assert (home / "home/.local/share/code-server/User/settings.json").exists()
    assert any("--install-extension" in c and "sst-dev.opencode-1.18.33.vsix" in c for c in calls)


def test_a_deleted_welcome_does_not_come_back(home):
    run(home)
    (home / "home/project/README.md").unlink()
    run(home)
    assert not (home / "home/project/README.md").exists()


def test_the_persons_own_files_are_never_overwritten(home):
    (home / "home/project/README.md").write_text("my project\n")
    settings = home / "home/.local/share/code-server/User/settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text("{\"editor.fontSize\": 18}\n")
    run(home)
    assert (home / "home/project/README.md").read_text() == "my project\n"
    assert settings.read_text() == "{\"editor.fontSize\": 18}\n"


def test_extension_reinstalled_only_when_the_image_brings_another_version(home):
    extensions = home / "home/.local/share/code-server/extensions"
    (extensions / "sst-dev.opencode-1.18.33").mkdir(parents=True)
    assert not any("--install-extension" in c for c in run(home))
    (extensions / "sst-dev.opencode-1.18.33").rename(extensions / "sst-dev.opencode-1.18.32")
    assert any("--install-extension" in c for c in run(home))


def test_the_empty_persisted_home_gets_the_shell_start_files_once(home):
    person = home / "home"
    (person / ".profile").write_text("# mine\n")
    run(home)
    assert (person / ".bashrc").read_text() == "# skel bashrc\n"
    assert (person / ".profile").read_text() == "# mine\n"  # never over the person's own
    (person / ".bashrc").unlink()
    run(home)
    assert not (person / ".bashrc").exists(), "a deleted start file came back"
