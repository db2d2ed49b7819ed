"""One rootless quadlet unit per person, the rollout of changed units, the images it keeps,
and stopping the units of people who left (their secrets and data are pruned and archived by
their modules).

The rollout compares what runs with what should: every container carries the label
layout.SPEC_LABEL, the hash of the unit it was started from; the unit holds the image, the
limits and a fingerprint of the person's secrets. A person whose running container is not on
the wanted unit (changed, never started, or left behind by an interrupted rollout) gets one
step of vscode-rollout, one person at a time: the new unit goes in, the container restarts
and must answer /healthz; if it does not, the unit that served goes back, the person serves
again, and the deploy stops there. So the people after a failed step keep their old unit and
image, and a rerun finishes an interrupted rollout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from pyinfra.api import deploy
from pyinfra.operations import server, systemd

from operations import ensure, layout
from operations.model import REPO, Site, User, ai_secret, format_size
from operations.preflight import version_of
from operations.snapshot import Snapshot
from operations.workspaces import departed, hand_over, needs_hand_over

QUADLET_TEMPLATE = REPO / "templates/etc/containers/systemd/users/code-server.container.j2"
ROLLOUT_TEMPLATE = REPO / "templates/usr/local/sbin/vscode-rollout.j2"
# opencode's managed config (mounted read-only in every container): the image pins the
# version, so no self-update; no public share links of sessions. Provider keys come from the
# environment, where opencode looks for them.
OPENCODE_CONFIG = REPO / "files/opencode.json"
HEALTH_TIMEOUT = 300  # seconds a (re)started workspace gets to answer /healthz
ROLLOUT_LOG_LINES = 20  # of a container that failed its step, in the deploy's error
NOTIFY_HEALTHY_SINCE = (5, 0)  # podman's sdnotify=healthy (quadlet Notify=healthy)


def notify_healthy(snap: Snapshot) -> bool:
    """Does the host's podman (or the one apt will install) have Notify=healthy?"""
    version = version_of(snap.podman_installed) or version_of(snap.podman_candidate)
    return version is not None and version >= NOTIFY_HEALTHY_SINCE


def secrets_fingerprint(user: User, hashes: Mapping[str, str], keys: Mapping[str, str],
                        names: list[str]) -> str:
    """48 bits of a hash over the person's password hash and AI keys: a changed secret
    changes the unit, so the container restarts on it. Nothing can be recovered from it
    (the argon2 hash holds a random salt, the keys are long random strings)."""
    material = "\0".join([hashes.get(user.name, ""), *(f"{n}={keys[n]}" for n in names)])
    return hashlib.sha256(material.encode()).hexdigest()[:12]


def unit_values(site: Site, user: User, keys: Mapping[str, str] | None = None,
                hashes: Mapping[str, str] | None = None, notify: bool = False) -> dict:
    """Exactly what the quadlet template needs, but its spec (see unit_text)."""
    names = site.keys_of(user, keys or {})
    return {
        "opencode_config": layout.OPENCODE_CONFIG,
        "opencode_config_in_container": layout.CONTAINER_OPENCODE_CONFIG,
        # In the unit, so that a changed config restarts the containers that mount it.
        "opencode_config_sha": hashlib.sha256(OPENCODE_CONFIG.read_bytes()).hexdigest()[:12],
        "ai_secrets": [(ai_secret(name), name) for name in names],
        "secrets_fingerprint": secrets_fingerprint(user, hashes or {}, keys or {}, names),
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
        "notify_healthy": notify,
        "spec_label": layout.SPEC_LABEL,
    }


def unit_text(values: dict) -> tuple[str, str]:
    """The unit file and its spec: the hash of the unit rendered without it, which the
    unit gives its container as a label, so that the next deploy can tell what runs."""
    template = str(QUADLET_TEMPLATE)
    spec = hashlib.sha256(ensure.render(template, spec="", **values).encode()).hexdigest()[:16]
    return ensure.render(template, spec=spec, **values), spec


def rollout_values(site: Site) -> dict:
    """What templates/usr/local/sbin/vscode-rollout.j2 needs."""
    return {"state_dir": layout.ROLLOUT_STATE, "as_account": layout.as_account_quietly(site),
            "spec_label": layout.SPEC_LABEL, "timeout": HEALTH_TIMEOUT,
            "account_uid": site.service_account_uid, "log_lines": ROLLOUT_LOG_LINES}


def images_to_keep(site: Site, snap: Snapshot, stepped: set[str]) -> set[str]:
    """The images the units will name once this run's steps succeeded: the current one,
    and each person's previous one (vscode-rollout's UNIT.previous, see its header). A step
    makes the unit that served (a running container's) the previous one, if its image
    differs from the new one."""
    keep = {site.image}
    for user in site.users:
        quadlet = f"{layout.quadlet_dir(site)}/{layout.quadlet_file(user)}"
        previous, rollback = layout.rollout_files(user)
        served = {snap.image_refs.get(quadlet), snap.image_refs.get(rollback)} - {None}
        if user.name not in stepped:
            keep |= served | {snap.image_refs.get(previous)}
        elif layout.container(user) in snap.running and served - {site.image}:
            keep |= served
        else:
            keep.add(snap.image_refs.get(previous))  # UNIT.previous stays as it is
    return keep - {None}


@deploy("Containers")
def containers(site: Site, snap: Snapshot, keys: Mapping[str, str],
               hashes: Mapping[str, str]) -> None:
    ensure.directory(snap, "Quadlet directory of the account", layout.quadlet_dir(site), "755")
    ensure.directory(snap, "Rollout state (root-only)", layout.ROLLOUT_STATE, "700")
    ensure.template(snap, "vscode-rollout: one person's step of a rollout", str(ROLLOUT_TEMPLATE),
                    layout.ROLLOUT_SCRIPT, mode="755", **rollout_values(site))
    ensure.file(snap, "opencode managed config", layout.OPENCODE_CONFIG,
                OPENCODE_CONFIG.read_bytes(), "644")

    account = {"user_mode": True, "user_name": site.service_account}  # its user manager
    gone = departed(site, snap)
    for name in gone:
        user = User(name=name, port=0, limits=site.defaults)
        systemd.service(name=f"Stop the unit of departed user {name}", service=layout.unit(user),
                        running=False, **account)
        server.shell(name=f"Remove the unit of departed user {name}",
                     commands=[f"rm -f {layout.quadlet_dir(site)}/{layout.quadlet_file(user)}"
                               f" {' '.join(layout.rollout_files(user))}"])
    rewritten = False
    steps: list[tuple[User, str | None]] = []  # (person, new unit text or None: restart only)
    for user in site.users:
        text, spec = unit_text(unit_values(site, user, keys, hashes, notify_healthy(snap)))
        path = f"{layout.quadlet_dir(site)}/{layout.quadlet_file(user)}"
        current = snap.file_is(path, text.encode(), "644")
        if snap.running.get(layout.container(user)) != spec or needs_hand_over(site, snap, user):
            steps.append((user, None if current else text))
        elif not current:  # the container runs this very unit; only its file differs
            ensure.file(snap, f"Quadlet unit {layout.quadlet_file(user)}", path, text, "644")
            rewritten = True
    if gone or rewritten:
        systemd.daemon_reload(name="Reload the account's systemd units", **account)

    # One at a time, each answering before the next (see the module's doc).
    for user, text in steps:
        if needs_hand_over(site, snap, user):
            hand_over(site, user)
        quadlet = f"{layout.quadlet_dir(site)}/{layout.quadlet_file(user)}"
        args = [user.name, layout.unit(user), layout.container(user), str(user.port), quadlet]
        if text is not None:
            ensure.file(snap, f"Stage {user.name}'s new unit", layout.staged_unit(user), text, "600")
            args.append(layout.staged_unit(user))
        server.shell(name=f"Roll out {user.name}'s workspace ({layout.unit(user)}; waits for"
                          " /healthz, goes back to the unit that served if it does not answer)",
                     commands=[" ".join([layout.ROLLOUT_SCRIPT, *args])])

    repository = site.image.rpartition(":")[0]
    stale = sorted(i for i in snap.images if i.rpartition(":")[0] == repository
                   and i not in images_to_keep(site, snap, {u.name for u, _ in steps}))
    if stale:
        server.shell(
            name=f"Remove {len(stale)} old workspace image(s); the current and previous stay",
            commands=[layout.as_account(site, f"sh -c 'for i in {' '.join(stale)}; do podman rmi"
                                              " $i >/dev/null || echo kept $i: still in use; done'"),
                      layout.as_account(site, "podman image prune --force >/dev/null")],
        )
