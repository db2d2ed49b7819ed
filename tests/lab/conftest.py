"""The lab cycle: a throw-away Debian 13 VM, a real deploy over SSH, then checks.

One VM per pytest session; it is stopped by its pid when the session ends, pass or fail.
Set VSCODE_LAB_KEEP=1 to leave it running for a look afterwards (`python3 -m lab ssh`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from lab import deploy as lab_deploy
from lab import fixtures, vm
from lab.site import lab_site
from tests.lab.helpers import ARTIFACTS, wait_serving


@pytest.fixture(scope="session")
def lab_vm():
    """A freshly booted lab VM (or the running one, with VSCODE_LAB_REUSE=1)."""
    reuse = os.environ.get("VSCODE_LAB_REUSE") == "1" and vm.running()
    if not reuse:
        vm.down()
        vm.up()
    fixtures.prepare()
    yield vm
    if os.environ.get("VSCODE_LAB_KEEP") != "1":
        vm.down()


class Deployer:
    """Runs the real deploy, logs each run under artifacts/, and remembers the timings."""

    def __init__(self, tmp_root: Path):
        self.tmp_root = tmp_root
        self.count = 0
        self.timings: list[tuple[str, float, int, int]] = []
        self.last_group_data: list[Path] | None = None
        self.applied_group_data: list[Path] | None = None

    def __call__(self, label: str, users: dict | None = None, extra: str | None = None,
                 group_data: list[Path] | None = None,
                 repo: Path = lab_deploy.REPO) -> lab_deploy.DeployResult:
        """Deploy; `users`/`extra` write an override group_data/lab.py, as a person would;
        `group_data`: override folders as they are; `repo`: a test's altered checkout."""
        self.count += 1
        if users is not None or extra is not None:
            folder = self.tmp_root / f"group_data_{self.count}"
            folder.mkdir(parents=True)
            text = ""
            if users is not None:
                text += f"users = {users!r}\n"
            text += extra or ""
            (folder / "lab.py").write_text(text)
            group_data = [folder]
        log = ARTIFACTS / f"deploy-{self.count:02d}-{label}.log"
        result = lab_deploy.run(group_data=group_data, log=log, repo=repo)
        self.timings.append((label, result.seconds, len(result.changed), result.commands))
        self.last_group_data = group_data
        if result.returncode == 0 and repo == lab_deploy.REPO:
            # What the server now runs: the tools read the site from the same data.
            self.applied_group_data = group_data
        return result


@pytest.fixture(scope="session")
def deployer(tmp_path_factory):
    d = Deployer(tmp_path_factory.mktemp("deploys"))
    yield d
    if d.timings:
        lines = [f"{'deploy':<32}{'seconds':>10}{'changed ops':>14}{'remote commands':>18}"]
        lines += [f"{label:<32}{sec:>10.1f}{changed:>14}{commands:>18}"
                  for label, sec, changed, commands in d.timings]
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "deploy-timings.txt").write_text("\n".join(lines) + "\n")
        sys.stderr.write("\n" + "\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def site():
    return lab_site()


@pytest.fixture(scope="module")
def timings(request):
    """(what, seconds) a module's tests measured: artifacts/<module>-timings.txt."""
    measured: list[tuple[str, float]] = []
    yield measured
    if measured:
        name = request.module.__name__.rpartition(".")[2].removeprefix("test_")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{name}-timings.txt").write_text(
            "".join(f"{what:<60}{seconds:>8.1f} s\n" for what, seconds in measured))


@pytest.fixture
def serving(lab_vm, site):
    """Every workspace answers through nginx before the test starts."""
    wait_serving(lab_vm, site)
