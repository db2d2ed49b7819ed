"""Unsupported hosts are refused before anything changes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from operations.model import REPO, load, password_variable
from operations.preflight import Platform, account_problems, problems, version_of
from tests.unit.test_model import GOOD, HASH

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


def test_this_debian12_machine_is_refused_before_any_operation(tmp_path):
    """A real pyinfra run against this machine (Debian 12, podman 4.3.1): refused at preflight.

    --dry: even if the refusal were broken, nothing would be executed here.
    """
    if "bookworm" not in open("/etc/os-release").read():
        pytest.skip("this check needs a Debian 12 machine to run on")
    data = tmp_path / "group_data"
    data.mkdir()
    (data / "all.py").write_text("".join(f"{k} = {v!r}\n" for k, v in GOOD.items()))
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "--dry", "-y", "@local", "deploy.py",
         "--group-data", str(data)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "VULTR_API_KEY": "not-used-by-a-refused-run",
             **{password_variable(name): HASH for name in GOOD["users"]}},
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "refusing to deploy" in output and "Debian 13 or Ubuntu 24.04" in output, output
    assert "Starting operation" not in output, output
