"""One rootless quadlet unit per user, its password secret, and removal of departed users.

A user's container restarts only when its own unit file or its own secret changed.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Mapping

from pyinfra.api import deploy
from pyinfra.api.util import get_template
from pyinfra.operations import server

from operations import ensure
from operations.layout import BOOT_SCRIPT, BOOT_UNIT, OPENCODE_CONFIG, QUADLET_GLOB, SYSTEM_UNITS
from operations.model import CODER_UID, REPO, Site, User, ai_secret, format_size
from operations.snapshot import Snapshot

TEMPLATES = REPO / "templates/etc/containers/systemd/users"
HEALTH_TIMEOUT = 300  # seconds a (re)started workspace gets to answer /healthz
# sed script that prints a quadlet's host port (the unit template's PublishPort= line).
PORT_SED = r"s/^PublishPort=127\.0\.0\.1:\([0-9]*\):8080$/\1/p"



def opencode_config() -> str:
    """opencode's managed config (mounted read-only at /etc/opencode/opencode.json):
    the image pins the version, so no self-update; no public share links of sessions.
    Provider keys come from the environment, where opencode looks for them."""
    return get_template(str(REPO / "templates/etc/vscode/opencode.json.j2")).render(
        share="disabled")


def unit_values(site: Site, user: User, keys: Mapping[str, str] | None = None) -> dict:
    """Exactly what the quadlet template needs."""
    return {
        "opencode_config": OPENCODE_CONFIG,
        # In the unit, so that a changed config restarts the containers that mount it.
        "opencode_config_sha": hashlib.sha256(opencode_config().encode()).hexdigest()[:12],
        "ai_secrets": [(ai_secret(name), name) for name in site.keys_of(user, keys or {})],
        "person": user.name,
        "hostname": site.hostname(user),
        "container": user.container,
        "image": site.image,
        "coder_uid": CODER_UID,
        "port": user.port,
        "workspace_dir": site.workspace_dir(user),
        "config_dir": site.config_dir(user),
        "password_secret": user.password_secret,
        "memory_max": format_size(user.limits.memory_max),
        "memory_high_bytes": user.limits.memory_high,
        "cpus": user.limits.cpus,
        "pids": user.limits.pids,
    }


def boot_script_values(site: Site) -> dict:
    """What the boot starter script needs."""
    return {"account": site.service_account, "quadlet_dir": site.quadlet_dir,
            "timeout": HEALTH_TIMEOUT, "port_sed": shlex.quote(PORT_SED)}


def boot_unit_values(site: Site) -> dict:
    """What the boot starter's systemd unit needs."""
    return {"account": site.service_account, "uid": site.service_account_uid,
            "script": BOOT_SCRIPT}


def systemctl(site: Site, *args: str) -> str:
    return site.as_account("systemctl --user " + " ".join(args))


def _secret(site: Site, snap: Snapshot, name: str, value: str, label: str) -> bool:
    """A podman secret of the account, made from a root-only file; True if (re)created."""
    path = f"{site.secrets_dir}/{name}"
    # No newline: it becomes an environment value.
    source = ensure.file(snap, f"{label} (root-only)", path, value, "600")
    changed = source.will_change or name not in snap.secrets
    if changed:
        server.shell(
            name=f"Podman secret {name}",
            commands=[site.as_account(f"podman secret create --replace {name} -",
                                      stdin_from=path)],
        )
    return changed


@deploy("Containers")
def containers(site: Site, snap: Snapshot, keys: Mapping[str, str]) -> None:
    ensure.directory(snap, "Root-only secret sources", site.secrets_dir, "700")
    ensure.directory(snap, "Quadlet directory of the account", site.quadlet_dir, "755")
    ensure.file(snap, "opencode managed config", OPENCODE_CONFIG, opencode_config(), "644")
    rotated = {name for name, value in keys.items()
               if _secret(site, snap, ai_secret(name), value, f"Shared key {name}")}

    restart: list[User] = []
    start: list[User] = []
    for user in site.users:
        secret_changed = _secret(site, snap, user.password_secret, user.password_hash,
                                 f"Password hash of {user.name}")
        secret_changed |= bool(rotated & set(site.keys_of(user, keys)))
        unit = ensure.template(
            snap, f"Quadlet unit {user.quadlet_file}",
            f"{TEMPLATES}/code-server.container.j2", f"{site.quadlet_dir}/{user.quadlet_file}",
            **unit_values(site, user, keys),
        )
        if unit.will_change or secret_changed:
            restart.append(user)
        elif snap.user_units.get(user.unit) != "active":
            start.append(user)

    departed = sorted(set(snap.listing(site.quadlet_dir, QUADLET_GLOB))
                      - {u.quadlet_file for u in site.users})
    for quadlet in departed:
        remove_user(site, quadlet.removeprefix("code-server-").removesuffix(".container"))

    if restart or departed:
        server.shell(name="Reload the account's systemd units",
                     commands=[systemctl(site, "daemon-reload")])
    # One at a time, each answering before the next: a broken image stops the rollout at
    # the first user (the deploy fails loudly) while the others keep serving as before.
    for user in restart + start:
        verb = "restart" if user in restart else "start"
        server.shell(name=f"{verb.capitalize()} {user.unit}, wait until it answers",
                     commands=[systemctl(site, verb, user.unit), wait_healthy(site, user)])

    # At boot the workspaces start one at a time too (see the script's comment for why).
    boot = [
        ensure.template(snap, "Boot starter of the workspaces",
                        str(REPO / "templates/usr/local/sbin/vscode-workspaces-start.j2"),
                        BOOT_SCRIPT, mode="755", **boot_script_values(site)),
        ensure.template(snap, BOOT_UNIT,
                        str(REPO / f"templates/etc/systemd/system/{BOOT_UNIT}.j2"),
                        f"{SYSTEM_UNITS}/{BOOT_UNIT}", **boot_unit_values(site)),
    ]
    ensure.service(snap, f"{BOOT_UNIT} starts the workspaces at boot", BOOT_UNIT,
                   running=True, enabled=True, daemon_reload=any(op.will_change for op in boot))

    # Keys no longer provided: their units were rewritten without them above.
    for stale in sorted(s for s in snap.secrets if s.startswith("ai-")
                        and s not in {ai_secret(k) for k in keys}):
        server.shell(name=f"Remove podman secret {stale} (key no longer provided)",
                     commands=[site.as_account(f"podman secret rm {stale}"),
                               f"rm -f {site.secrets_dir}/{stale}"])


def wait_healthy(site: Site, user: User, timeout: int = HEALTH_TIMEOUT) -> str:
    """Poll /healthz; on timeout fail loudly with the unit's state and last log lines."""
    return (
        f"for i in $(seq {timeout // 2}); do"
        f" curl -fsS -o /dev/null http://127.0.0.1:{user.port}/healthz && exit 0; sleep 2; done;"
        f" echo '{user.container} did not answer on 127.0.0.1:{user.port} within {timeout}s' >&2;"
        f" {systemctl(site, 'status', '--no-pager', '--lines=30', user.unit)} >&2; exit 1"
    )


def remove_user(site: Site, name: str) -> None:
    """Stop and remove a departed user's unit and secret; archive their data, never delete it."""
    user = User(name=name, port=0, password_hash="", limits=site.defaults)
    server.shell(
        name=f"Remove departed user {name} (data kept in {site.archive_dir})",
        commands=[
            systemctl(site, "stop", user.unit) + " || true",
            f"rm -f {site.quadlet_dir}/{user.quadlet_file} {site.secrets_dir}/{user.password_secret}",
            site.as_account(f"podman secret rm {user.password_secret}") + " 2>/dev/null || true",
            f"if [ -d {site.user_dir(user)} ]; then"
            f" mv {site.user_dir(user)} {site.archive_dir}/{name}-$(date +%Y%m%d-%H%M%S); fi",
        ],
    )
