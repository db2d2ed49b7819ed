"""The deployed site as the tests see it: read from the same inventory and group data that
deploy.py reads, through the same model, so tests and deploy cannot drift apart."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from operations.model import Site, load  # noqa: E402


def inventory_host(inventory: str, name: str | None = None, group_data: list[str] | None = None):
    """The pyinfra Host for `name` (default: the first host) with its merged data."""
    from pyinfra_cli.inventory import make_inventory

    inv = make_inventory(str(REPO / inventory) if not Path(inventory).is_absolute() else inventory,
                         cwd=str(REPO), group_data_directories=group_data)
    hosts = list(inv)
    if name is None:
        return hosts[0]
    for host in hosts:
        if host.name == name:
            return host
    raise SystemExit(f"host {name!r} is not in {inventory}: {[h.name for h in hosts]}")


def site_of(host) -> Site:
    return load(host.data)


def testinfra_url(host) -> str:
    """A testinfra ssh:// URL from the pyinfra host data (port, user, key)."""
    data = host.data
    user = data.get("ssh_user") or "root"
    port = data.get("ssh_port") or 22
    url = f"ssh://{user}@{host.name}:{port}"
    params = []
    if data.get("ssh_key"):
        params.append(f"ssh_identity_file={data.get('ssh_key')}")
    if data.get("ssh_strict_host_key_checking") == "no":
        params.append("ssh_extra_args=-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                      " -o LogLevel=ERROR")
    return url + ("?" + "&".join(params) if params else "")
