"""The platform as the preflight sees it. The deploy reads it through operations/snapshot.py;
PlatformFact reads it alone (the unit tests parse its output)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyinfra.api import FactBase


def version_of(text: str) -> tuple[int, ...] | None:
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
            podman_installed=version_of(values.get("podman_installed", "")),
            podman_candidate=None if candidate in ("", "(none)") else version_of(candidate),
        )
