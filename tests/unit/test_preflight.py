"""Unsupported hosts are refused before anything changes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from operations.model import BACKUP_PASSWORD_VARIABLE, REPO, load, password_variable
from operations.preflight import Platform, account_problems, problems, version_of
from tests.unit.data import GOOD, HASH

OS_RELEASE = {
    "debian12": ("debian", "12", "Debian GNU/Linux 12 (bookworm)"),
    "debian13": ("debian", "13", "Debian GNU/Linux 13 (trixie)"),
    "ubuntu2204": ("ubuntu", "22.04", "Ubuntu 22.04.5 LTS"),
    "ubuntu2404": ("ubuntu", "24.04", "Ubuntu 24.04.1 LTS"),
}


def platform(os: str, installed: str = "", candidate: str = "") -> Platform:
    os_id, version, name = OS_RELEASE[os]
    return Platform(os_id=os_id, os_version=version, os_name=name,
                    podman_installed=version_of(installed), podman_candidate=version_of(candidate))


@pytest.mark.parametrize("case", [
    platform("debian13", candidate="5.4.2+ds1-2"),
    platform("debian13", installed="podman version 5.4.2"),
    platform("ubuntu2404", candidate="4.9.3+ds1-1ubuntu0.2"),
])
def test_supported_platforms_pass(case):
    assert problems(case) == []


@pytest.mark.parametrize("case,needle", [
    (platform("debian12", candidate="4.3.1+ds1-8+deb12u1"), "podman 4.3.1 is available"),
    (platform("debian12", installed="podman version 4.3.1"), "podman 4.3.1 is installed"),
    (platform("debian12"), "Debian GNU/Linux 12 (bookworm) is not supported"),
    (platform("ubuntu2204", candidate="3.4.4+ds1-1ubuntu1.22.04.2"), "podman 3.4.4"),
])
def test_old_platforms_are_refused_with_reason(case, needle):
    found = problems(case)
    assert found and any(needle in p for p in found), found


def test_uid_taken_by_someone_else_is_refused():
    site = load(GOOD)
    assert account_problems(site, {"codeserver": {"uid": 1500}, "alice": {"uid": 1000}}) == []
    taken = account_problems(site, {"dave": {"uid": 1500}})
    assert taken and "service_account_uid 1500 belongs to the account 'dave'" in taken[0]
    moved = account_problems(site, {"codeserver": {"uid": 1600}})
    assert moved and "set service_account_uid = 1600" in moved[0]


def dry_run(deploy_file: str, *args: str) -> tuple[int, str]:
    """`pyinfra --dry -y @local DEPLOY_FILE`: even if a refusal were broken, a dry run
    executes nothing on this machine."""
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "--dry", "-y", "@local", deploy_file, *args],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "VULTR_API_KEY": "not-used-by-a-refused-run",
             BACKUP_PASSWORD_VARIABLE: "not-used-by-a-refused-run",
             **{password_variable(name): HASH for name in GOOD["users"]}},
    )
    return result.returncode, result.stdout + result.stderr


# pyinfra prints this once a deploy file has loaded, i.e. once its operations are prepared.
PREPARED = "Ready: "


def test_a_dry_run_that_prepares_operations_says_so(tmp_path):
    """The control of the check below: the line it asserts absent is there when pyinfra
    gets as far as preparing a deploy's operations."""
    harmless = tmp_path / "harmless.py"
    harmless.write_text("from pyinfra.operations import server\n"
                        "server.shell(name='a harmless command', commands=['true'])\n")
    code, output = dry_run(str(harmless))
    assert code == 0 and f"{PREPARED}{harmless}" in output, output


def test_this_debian12_machine_is_refused_before_any_operation(tmp_path):
    """A real pyinfra run against this machine (Debian 12, podman 4.3.1): refused at
    preflight, while the deploy file loads, before a single operation is prepared."""
    if "bookworm" not in open("/etc/os-release").read():
        pytest.skip("this check needs a Debian 12 machine to run on")
    data = tmp_path / "group_data"
    data.mkdir()
    (data / "all.py").write_text("".join(f"{k} = {v!r}\n" for k, v in GOOD.items()))
    code, output = dry_run("deploy.py", "--group-data", str(data))
    assert code != 0, output
    assert "refusing to deploy, nothing was changed" in output, output
    assert "Debian GNU/Linux 12 (bookworm) is not supported" in output, output
    assert "podman 4.3.1 is installed, but quadlet units need podman >= 4.9" in output, output
    assert PREPARED not in output, output
