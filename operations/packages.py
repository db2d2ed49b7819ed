"""The distribution packages the product runs on."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from operations.model import Site

PACKAGES = [
    "podman",
    "passt",  # pasta: podman 5's rootless network, binds 127.0.0.1:PORT as asked
    "slirp4netns",  # podman 4.9's default rootless network (Ubuntu 24.04)
    "uidmap",  # newuidmap/newgidmap for the account's subordinate ids
    "dbus-user-session",  # a user bus, so rootless podman uses systemd cgroups
    "crun",
    "nginx",
    "curl",
]


@deploy("Packages")
def packages(site: Site) -> None:
    installed = host.get_fact(DebPackages)
    # Refresh the apt lists only when something is missing, so a re-run stays a no-op.
    if any(name not in installed for name in PACKAGES):
        apt.packages(
            name="Install podman, nginx and what rootless podman needs",
            packages=PACKAGES,
            update=True,
            no_recommends=True,
        )
