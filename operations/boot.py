"""The boot starter: the workspace units carry no [Install] section, and
vscode-workspaces.service starts them at boot, one at a time, each once the one before
answers /healthz. code-server gives its worker process 10 s to start and exits when that is
missed; several starting at once on a busy CPU miss it together, then retry together.

The script gets the (unit, port) list rendered into it: adding a person changes it.
"""

from __future__ import annotations

from pyinfra.api import deploy

from operations import ensure, layout
from operations.containers import HEALTH_TIMEOUT
from operations.model import REPO, Site
from operations.snapshot import Snapshot

TEMPLATES = REPO / "templates"


def boot_script_values(site: Site) -> dict:
    """What the boot starter script needs."""
    return {"account": site.service_account, "timeout": HEALTH_TIMEOUT,
            "workspaces": [(layout.unit(u), u.port) for u in site.users]}


def boot_unit_values(site: Site) -> dict:
    """What the boot starter's systemd unit needs."""
    return {"account": site.service_account, "user_manager": f"user@{site.service_account_uid}.service",
            "environment": " ".join(f"{k}={v}" for k, v in layout.account_environment(site).items()),
            "script": layout.BOOT_SCRIPT}


@deploy("Boot starter")
def boot(site: Site, snap: Snapshot) -> None:
    changed = [
        ensure.template(snap, "Boot starter of the workspaces",
                        str(TEMPLATES / "usr/local/sbin/vscode-workspaces-start.j2"),
                        layout.BOOT_SCRIPT, mode="755", **boot_script_values(site)),
        ensure.template(snap, layout.BOOT_UNIT,
                        str(TEMPLATES / f"etc/systemd/system/{layout.BOOT_UNIT}.j2"),
                        f"{layout.SYSTEM_UNITS}/{layout.BOOT_UNIT}", **boot_unit_values(site)),
    ]
    ensure.service(snap, f"{layout.BOOT_UNIT} starts the workspaces at boot", layout.BOOT_UNIT,
                   running=True, enabled=True,
                   daemon_reload=any(op.will_change for op in changed))
