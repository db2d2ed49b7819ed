"""The podman secrets of the service account: each person's password hash and the shared AI
provider keys, each made from a root-only file (which tells the next run whether it changed),
and the removal of those nobody uses any more.

A secret reaches a container as an environment variable through quadlet's `Secret=`, so it
never appears in a unit file, `podman inspect`, a command line or the journal.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyinfra.api import deploy
from pyinfra.operations import server

from operations import ensure, layout
from operations.model import Site, ai_secret
from operations.snapshot import Snapshot


def _secret(site: Site, snap: Snapshot, name: str, value: str, label: str) -> None:
    """A podman secret of the account, made from a root-only file."""
    path = f"{layout.SECRETS_DIR}/{name}"
    # No newline: it becomes an environment value.
    source = ensure.secret(snap, f"{label} (root-only)", path, value, layout.SECRETS_DIR)
    if source.will_change or name not in snap.secrets:
        server.shell(
            name=f"Podman secret {name}",
            commands=[layout.as_account(site, f"podman secret create --replace {name} -",
                                        stdin_from=path)],
        )


@deploy("Secrets")
def secrets(site: Site, snap: Snapshot, keys: Mapping[str, str],
            hashes: Mapping[str, str]) -> None:
    """A changed secret restarts only the containers that use it: their unit holds a
    fingerprint of their secrets (operations/containers.py)."""
    ensure.directory(snap, "Root-only secret sources", layout.SECRETS_DIR, "700")
    for name, value in keys.items():
        _secret(site, snap, ai_secret(name), value, f"Shared key {name}")
    for user in site.users:
        _secret(site, snap, layout.password_secret(user), hashes[user.name],
                f"Password hash of {user.name}")


@deploy("Secrets no longer used")
def prune_secrets(site: Site, snap: Snapshot, keys: Mapping[str, str]) -> None:
    """After the rollout: keys no longer provided (their units no longer name them) and the
    password secrets of people who left (their containers are stopped by now)."""
    wanted = {ai_secret(k) for k in keys} | {layout.password_secret(u) for u in site.users}
    for stale in sorted(s for s in snap.secrets if s not in wanted and (
            s.startswith("ai-") or layout.person_of_secret(s))):
        server.shell(name=f"Remove podman secret {stale} (no longer used)",
                     commands=[layout.as_account(site, f"podman secret rm {stale}"),
                               f"rm -f {layout.SECRETS_DIR}/{stale}"])
