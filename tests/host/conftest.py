"""The testinfra suite for any deployed host: `pytest tests/host` after a deploy.

It reads the target and the expected users from the inventory and group data (default:
inventory.py, i.e. the lab). For a real server: `pytest tests/host --inventory
inventories/production.py`.
"""

from __future__ import annotations

import shlex

import pytest

from operations import layout
from tools.site import inventory_host, site_of, testinfra_host


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "site_wide: checks the whole server, not one person (after adding a person,"
        " the lab reruns only the others: -m 'not site_wide')")


def pytest_addoption(parser):
    parser.addoption("--inventory", default="inventory.py", help="pyinfra inventory file")
    parser.addoption("--inventory-host", default=None, help="host name in it (default: first)")
    parser.addoption("--extra-group-data", action="append", default=None,
                     help="extra group_data directory, as pyinfra --group-data")
    parser.addoption("--tls-ca", default=None,
                     help="CA file ON THE SERVER to verify its certificate with (default: the "
                          "system trust store; the lab passes its ACME server's roots)")


@pytest.fixture(scope="session")
def tls_ca(request):
    return request.config.getoption("--tls-ca")


@pytest.fixture(scope="session")
def pyinfra_host(request):
    return inventory_host(request.config.getoption("--inventory"),
                          request.config.getoption("--inventory-host"),
                          request.config.getoption("--extra-group-data"))


@pytest.fixture(scope="session")
def site(pyinfra_host):
    return site_of(pyinfra_host)


@pytest.fixture(scope="session")
def host(pyinfra_host):
    return testinfra_host(pyinfra_host)


class Account:
    """Runs commands as the rootless service account, with its user bus."""

    def __init__(self, host, site):
        self.host, self.site = host, site

    def run(self, command: str):
        return self.host.run(layout.as_account(self.site, command))

    def check(self, command: str) -> str:
        result = self.run(command)
        assert result.rc == 0, f"{command!r} failed ({result.rc}): {result.stderr}"
        return result.stdout

    def inspect(self, container: str, fmt: str) -> str:
        return self.check(f"podman inspect --format {shlex.quote(fmt)} {container}").strip()


@pytest.fixture(scope="session")
def account(host, site):
    return Account(host, site)
