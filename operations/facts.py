"""Facts the stock pyinfra facts do not cover: the platform and the rootless account's podman.

Every command here exits 0 and prints tagged lines, so a fact on a fresh host (no account,
no podman yet) is an empty answer rather than a failed deploy.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase


def _version(text: str) -> tuple[int, ...] | None:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(x) for x in m.groups() if x is not None) if m else None


@dataclass
class Platform:
    os_id: str = ""
    os_version: str = ""
    os_name: str = ""
    podman_installed: tuple[int, ...] | None = None
    podman_candidate: tuple[int, ...] | None = None


class PlatformFact(FactBase[Platform]):
    """OS release, installed podman and the podman apt would install."""

    def command(self) -> str:
        return (
            ". /etc/os-release 2>/dev/null;"
            ' echo "os_id=$ID"; echo "os_version=$VERSION_ID"; echo "os_name=$PRETTY_NAME";'
            ' echo "podman_installed=$(podman --version 2>/dev/null)";'
            " echo \"podman_candidate=$(apt-cache policy podman 2>/dev/null"
            " | sed -n 's/^ *Candidate: *//p')\""
        )

    def process(self, output: list[str]) -> Platform:
        values = dict(line.split("=", 1) for line in output if "=" in line)
        candidate = values.get("podman_candidate", "")
        return Platform(
            os_id=values.get("os_id", ""),
            os_version=values.get("os_version", ""),
            os_name=values.get("os_name", ""),
            podman_installed=_version(values.get("podman_installed", "")),
            podman_candidate=None if candidate in ("", "(none)") else _version(candidate),
        )


@dataclass
class AccountPodman:
    ready: bool = False  # the account exists and its user manager is up
    images: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    units: dict[str, str] = field(default_factory=dict)  # unit -> ActiveState


class AccountPodmanFact(FactBase[AccountPodman]):
    """Images, secrets and code-server units of the rootless service account."""

    def command(self, account: str, runtime_dir: str) -> str:
        env = (
            f"cd / && runuser -u {shlex.quote(account)} -- env XDG_RUNTIME_DIR={runtime_dir}"
            f" DBUS_SESSION_BUS_ADDRESS=unix:path={runtime_dir}/bus"
        )
        return (
            f"if id -u {shlex.quote(account)} >/dev/null 2>&1 && [ -S {runtime_dir}/bus ]; then"
            " echo ready;"
            f" {env} podman images --format 'image {{{{.Repository}}}}:{{{{.Tag}}}}' 2>/dev/null;"
            f" {env} podman secret ls --format 'secret {{{{.Name}}}}' 2>/dev/null;"
            f" {env} systemctl --user list-units --all --plain --no-legend 'code-server-*'"
            " 2>/dev/null | awk '{print \"unit \" $1 \" \" $3}';"
            " fi; true"
        )

    def process(self, output: list[str]) -> AccountPodman:
        state = AccountPodman()
        for line in output:
            kind, _, rest = line.strip().partition(" ")
            if kind == "ready":
                state.ready = True
            elif kind == "image":
                state.images.add(rest)
            elif kind == "secret":
                state.secrets.add(rest)
            elif kind == "unit":
                unit, _, active = rest.partition(" ")
                state.units[unit] = active
        return state

    @staticmethod
    def default() -> AccountPodman:
        return AccountPodman()


class DirectoryListing(FactBase[list[str]]):
    """Names in a directory, or nothing when it does not exist."""

    def command(self, path: str, pattern: str = "*") -> str:
        return f"cd {shlex.quote(path)} 2>/dev/null && ls -1d {pattern} 2>/dev/null; true"

    def process(self, output: list[str]) -> list[str]:
        return [line.strip() for line in output if line.strip()]

    @staticmethod
    def default() -> list[str]:
        return []


class CertificateNames(FactBase[list[str]]):
    """The DNS names a PEM certificate on the host covers; empty if it is missing or unreadable."""

    def command(self, path: str) -> str:
        return (f"openssl x509 -noout -ext subjectAltName -in {shlex.quote(path)} 2>/dev/null"
                " | tr ',' '\\n' | sed -n 's/^ *DNS://p'; true")

    def process(self, output: list[str]) -> list[str]:
        return sorted(line.strip() for line in output if line.strip())

    @staticmethod
    def default() -> list[str]:
        return []
