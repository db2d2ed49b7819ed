"""One rootless quadlet unit per person, the rollout of changed units, and stopping the
units of people who left (their secrets and data are pruned and archived by their modules).

A person's container restarts only when their own unit file or one of their secrets changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd

from operations import ensure, layout
from operations.model import REPO, Site, User, ai_secret, format_size
from operations.snapshot import Snapshot
from operations.workspaces import departed, hand_over, needs_hand_over

QUADLET_TEMPLATE = REPO / "templates/etc/containers/systemd/users/code-server.container.j2"
# opencode's managed config (mounted read-only in every container): the image pins the
# version, so no self-update; no public share links of sessions. Provider keys come from the
# environment, where opencode looks for them.
OPENCODE_CONFIG = REPO / "files/opencode.json"
HEALTH_TIMEOUT = 300  # seconds a (re)started workspace gets to answer /healthz


def unit_values(site: Site, user: User, keys: Mapping[str, str] | None = None) -> dict:
    """Exactly what the quadlet template needs."""
    return {
        "opencode_config": layout.OPENCODE_CONFIG,
        "opencode_config_in_container": layout.CONTAINER_OPENCODE_CONFIG,
        # In the unit, so that a changed config restarts the containers that mount it.
        "opencode_config_sha": hashlib.sha256(OPENCODE_CONFIG.read_bytes()).hexdigest()[:12],
        "ai_secrets": [(ai_secret(name), name) for name in site.keys_of(user, keys or {})],
        "person": user.name,
        "hostname": layout.hostname(site, user),
        "container": layout.container(user),
        "image": site.image,
        "coder_host_uid": site.coder_host_uid,
        "port": user.port,
        "home_dir": layout.home_dir(site, user),
        "home_in_container": layout.CONTAINER_HOME,
        "workspace_dir": layout.workspace_dir(site, user),
        "project_in_container": layout.CONTAINER_PROJECT,
        "config_dir": layout.config_dir(site, user),
        "data_in_container": layout.CONTAINER_DATA,
        "password_secret": layout.password_secret(user),
        "memory_max": format_size(user.limits.memory_max),
        "memory_high_bytes": user.limits.memory_high,
        "cpus": user.limits.cpus,
        "pids": user.limits.pids,
        "on_failure": f"{layout.FAILED_UNIT}%n.service",
    }


def systemctl(site: Site, *args: str) -> str:
    return layout.as_account(site, "systemctl --user " + " ".join(args))


@deploy("Containers")
def containers(site: Site, snap: Snapshot, keys: Mapping[str, str],
               secret_changed: set[str]) -> None:
    """secret_changed: people whose secrets changed in this run (operations/secrets.py)."""
    ensure.directory(snap, "Quadlet directory of the account", layout.quadlet_dir(site), "755")
    ensure.file(snap, "opencode managed config", layout.OPENCODE_CONFIG,
                OPENCODE_CONFIG.read_bytes(), "644")

    restart: list[User] = []
    start: list[User] = []
    for user in site.users:
        unit = ensure.template(
            snap, f"Quadlet unit {layout.quadlet_file(user)}", str(QUADLET_TEMPLATE),
            f"{layout.quadlet_dir(site)}/{layout.quadlet_file(user)}",
            **unit_values(site, user, keys),
        )
        if unit.will_change or user.name in secret_changed or needs_hand_over(site, snap, user):
            restart.append(user)
        elif snap.user_units.get(layout.unit(user)) != "active":
            start.append(user)

    account = {"user_mode": True, "user_name": site.service_account}  # its user manager
    gone = departed(site, snap)
    for name in gone:
        user = User(name=name, port=0, limits=site.defaults)
        systemd.service(name=f"Stop the unit of departed user {name}", service=layout.unit(user),
                        running=False, **account)
        files.file(name=f"Remove the unit of departed user {name}",
                   path=f"{layout.quadlet_dir(site)}/{layout.quadlet_file(user)}", present=False)

    if restart or gone:
        systemd.daemon_reload(name="Reload the account's systemd units", **account)
    # One at a time, each answering before the next: a broken image stops the rollout at
    # the first person (the deploy fails loudly) while the others keep serving as before.
    for user in restart + start:
        if needs_hand_over(site, snap, user):
            hand_over(site, user)
        systemd.service(name=f"{'Restart' if user in restart else 'Start'} {layout.unit(user)}",
                        service=layout.unit(user), running=True, restarted=user in restart,
                        **account)
        server.shell(name=f"Wait until {layout.container(user)} answers",
                     commands=[wait_healthy(site, user)])


def wait_healthy(site: Site, user: User, timeout: int = HEALTH_TIMEOUT) -> str:
    """Poll /healthz; on timeout fail loudly with the unit's state and last log lines."""
    return (
        f"for i in $(seq {timeout // 2}); do"
        f" curl -fsS -o /dev/null http://127.0.0.1:{user.port}/healthz && exit 0; sleep 2;"
        f" done; echo '{layout.container(user)} did not answer on 127.0.0.1:{user.port}"
        f" within {timeout}s' >&2;"
        f" {systemctl(site, 'status', '--no-pager', '--lines=30', layout.unit(user))} >&2; exit 1"
    )
