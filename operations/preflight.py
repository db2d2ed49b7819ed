"""Refuse unsupported hosts before anything is changed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError

from operations import layout
from operations.model import MIN_PODMAN, Site
from operations.snapshot import Snapshot


@dataclass
class Platform:
    os_id: str = ""
    os_version: str = ""
    os_name: str = ""
    podman_installed: tuple[int, ...] | None = None
    podman_candidate: tuple[int, ...] | None = None


def version_of(text: str) -> tuple[int, ...] | None:
    """'podman version 5.4.2' or '5.4.2+ds1-2' -> (5, 4, 2); None without a version."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(x) for x in m.groups() if x is not None) if m else None


# Releases whose packaged podman has quadlet and the features we rely on.
SUPPORTED = {"debian": 13, "ubuntu": 24}


def account_problems(site: Site, accounts: dict) -> list[str]:
    """The service account's fixed uid must be free, or already be that account's."""
    found = []
    for name, info in accounts.items():
        uid = info.get("uid")
        if uid == site.service_account_uid and name != site.service_account:
            found.append(f"service_account_uid {uid} belongs to the account {name!r}: "
                         "set service_account_uid to a free uid in group data")
        if name == site.service_account and uid != site.service_account_uid:
            found.append(f"the account {name!r} exists with uid {uid}, not "
                         f"{site.service_account_uid}: set service_account_uid = {uid}")
    return found


def problems(platform) -> list[str]:
    """Why this platform cannot run the product; empty when it can."""
    found = []
    need = ".".join(map(str, MIN_PODMAN))
    major = platform.os_version.split(".")[0]
    if platform.os_id not in SUPPORTED or not major.isdigit() or int(major) < SUPPORTED[
        platform.os_id
    ]:
        found.append(
            f"{platform.os_name or 'this OS'} is not supported: use Debian 13 or Ubuntu 24.04 "
            f"(their podman has quadlet; Debian 12 ships podman 4.3.1, which has none)"
        )
    for label, version in (
        ("installed", platform.podman_installed),
        ("available from apt", platform.podman_candidate),
    ):
        if version is not None and version < MIN_PODMAN:
            found.append(
                f"podman {'.'.join(map(str, version))} is {label}, but quadlet units need "
                f"podman >= {need}: upgrade the OS to Debian 13 or Ubuntu 24.04"
            )
    return found


def certificate_problems(site: Site, names: list[str]) -> list[str]:
    """A brought certificate must be readable and cover every workspace name."""
    if site.tls_mode != "certificate":
        return []
    if not names:
        return [f"tls_certificate {site.tls_certificate} is missing or not a PEM certificate on "
                "the server: copy it there first (and tls_certificate_key beside it)"]
    wanted = set(site.certificate_names)
    if not (f"*.{site.domain}" in names or all(layout.hostname(site, u) in names for u in site.users)):
        return [f"tls_certificate covers {', '.join(names)}, not {', '.join(sorted(wanted))}: "
                "get a certificate for the wildcard name"]
    return []


def platform_of(snap: Snapshot) -> Platform:
    return Platform(os_id=snap.os_id, os_version=snap.os_version, os_name=snap.os_name,
                    podman_installed=version_of(snap.podman_installed),
                    podman_candidate=version_of(snap.podman_candidate))


@deploy("Preflight")
def preflight(site: Site, snap: Snapshot) -> None:
    found = problems(platform_of(snap)) + account_problems(site, snap.passwd)
    if site.tls_mode == "certificate":
        found += certificate_problems(site, snap.certificate_names)
    if found:
        raise DeployError(
            f"{host.name}: refusing to deploy, nothing was changed:\n"
            + "\n".join(f"  - {p}" for p in found)
        )
