"""The lab cycle: a throw-away Debian 13 VM, a real deploy over SSH, then checks.

One VM per pytest session; it is stopped by its pid when the session ends, pass or fail.
Set VSCODE_LAB_KEEP=1 to leave it running for a look afterwards (`python3 -m lab ssh`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import deploy as lab_deploy
from lab import fixtures, vm
from tests.site_data import REPO, curl_https, inventory_host, site_of

ARTIFACTS = REPO / "artifacts"

# The lab users' passwords. They exist only in the throw-away VM (group_data/lab.py holds
# their hashes); the tests log in with them.
LAB_PASSWORDS = {
    "alice": "lab-alice-password",
    "bob": "lab-bob-password",
    "carol": "lab-carol-password",
}
CAROL_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$cVgtL+6y99OrhILE3NGWeQ$"
              "TGptzjfMbsVNIom+6Cx/hWVi9wd8WRBg9D4jveUhdt4")


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
        self.timings: list[tuple[str, float, int]] = []

    def __call__(self, label: str, users: dict | None = None,
                 extra: str | None = None) -> lab_deploy.DeployResult:
        """Deploy; `users`/`extra` write an override group_data/lab.py, as a person would."""
        self.count += 1
        group_data = None
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
        result = lab_deploy.run(group_data=group_data, log=log)
        self.timings.append((label, result.seconds, len(result.changed)))
        self.last_group_data = group_data
        return result


@pytest.fixture(scope="session")
def deployer(tmp_path_factory):
    d = Deployer(tmp_path_factory.mktemp("deploys"))
    yield d
    if d.timings:
        lines = [f"{'deploy':<32}{'seconds':>10}{'changed ops':>14}"]
        lines += [f"{label:<32}{sec:>10.1f}{changed:>14}" for label, sec, changed in d.timings]
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "deploy-timings.txt").write_text("\n".join(lines) + "\n")
        sys.stderr.write("\n" + "\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def lab_host():
    return inventory_host("inventory.py")


@pytest.fixture(scope="session")
def site(lab_host):
    return site_of(lab_host)


def lab_users() -> dict:
    """The users of group_data/lab.py, as plain data, for override files."""
    return dict(inventory_host("inventory.py").data.get("users"))


def sh(command: str) -> str:
    """Run a shell command in the lab VM as root; its stdout (a failure raises)."""
    return vm.ssh(command).stdout


def https_status(hostname: str, path: str = "/healthz") -> str:
    """The HTTP status nginx gives a browser at https://HOSTNAME/PATH, trusting pebble."""
    return vm.ssh(curl_https(hostname, path, fixtures.PEBBLE_ROOTS,
                             "-o /dev/null -w '%{http_code}'")).stdout.strip()


def run_host_suite(*extra_args: str) -> subprocess.CompletedProcess:
    """The user-facing testinfra suite, exactly as README documents it, trusting pebble."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/host",
         "--tls-ca", fixtures.PEBBLE_ROOTS, *extra_args],
        cwd=REPO, capture_output=True, text=True,
    )


# The lab tests share one VM and build on each other: converge first, the reboot late, and
# the TLS mode switches (which take the HTTPS sites away) last.
MODULE_ORDER = ("test_cycle", "test_login_browser", "test_tls", "test_workspace",
                "test_tls_modes")


def pytest_collection_modifyitems(config, items):
    lab = Path(__file__).parent

    def rank(item) -> int:
        path = Path(str(item.fspath))
        if path.parent != lab:
            return -1  # everything outside the lab (the fast unit tests) stays first
        return MODULE_ORDER.index(path.stem) if path.stem in MODULE_ORDER else len(MODULE_ORDER)
    items.sort(key=rank)  # stable: the order inside a module is kept
