"""The distribution packages the product runs on."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt

from operations.model import Site
from operations.snapshot import Snapshot

PACKAGES = [
    "podman",
    "passt",  # pasta: podman 5's rootless network, binds 127.0.0.1:PORT as asked
    "slirp4netns",  # podman 4.9's default rootless network (Ubuntu 24.04)
    "uidmap",  # newuidmap/newgidmap for the account's subordinate ids
    "dbus-user-session",  # a user bus, so rootless podman uses systemd cgroups
    "crun",
    "curl",
    "restic",  # the backups (operations/backup.py)
]


def packages_for(site: Site) -> list[str]:
    """What this site's mode needs: no nginx for the SSH-tunnel mode, lego only for ACME."""
    names = list(PACKAGES)
    if site.uses_proxy:
        names += ["nginx", "openssl"]
    if site.tls_mode == "acme":
        names.append("lego")
    return names


@deploy("Packages")
def packages(site: Site, snap: Snapshot) -> None:
    # Refresh the apt lists only when something is missing, so a re-run stays a no-op.
    wanted = packages_for(site)
    installed = snap.packages
    if any(name not in installed for name in wanted):
        apt.packages(
            name=f"Install {', '.join(n for n in wanted if n not in installed)}",
            packages=wanted,
            update=True,
            no_recommends=True,
        )
