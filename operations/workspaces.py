"""Per-person storage on the host: plain directories, easy to back up and to restore; the
data of people who left is moved to the archive, never deleted."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import server

from operations import ensure, layout
from operations.model import Site, User
from operations.snapshot import PathState, Snapshot


def departed(site: Site, snap: Snapshot) -> list[str]:
    """People whose unit is on the host but who are no longer in the group data."""
    here = {layout.person_of_quadlet(f) for f in snap.listing(layout.quadlet_dir(site),
                                                               layout.QUADLET_GLOB)}
    return sorted(here - {None} - {u.name for u in site.users})


def mounted(site: Site, user: User) -> tuple[str, str]:
    """The person's folders that their container mounts."""
    return layout.workspace_dir(site, user), layout.config_dir(site, user)


@deploy("Workspaces")
def workspaces(site: Site, snap: Snapshot) -> None:
    ensure.directory(snap, f"Workspace base {site.workspace_base}", site.workspace_base, "755")
    ensure.directory(snap, "Archive of removed users", layout.archive_dir(site), "700")
    account = site.service_account
    coder = str(site.coder_host_uid)
    for user in site.users:
        # The person's folder belongs to the service account, the containers' root, which
        # mounts from it; what is mounted belongs to `coder` (Site.coder_host_uid). 0750
        # keeps other host accounts out.
        folder = layout.user_dir(site, user)
        ensure.directory(snap, folder, folder, "750", account, account)
        # The whole home persists (git identity, SSH keys, history, the AI login, --user
        # tools); what the image must own is outside it (ENTRYPOINTD in files/Dockerfile).
        home = layout.home_dir(site, user)
        ensure.directory(snap, home, home, "750", coder, coder)
        for path in layout.home_mount_points(site, user):
            ensure.directory(snap, path, path, "755", coder, coder)
        if needs_hand_over(site, snap, user):
            continue  # while the container still runs on its old unit: see hand_over()
        for path in mounted(site, user):
            ensure.directory(snap, path, path, "750", coder, coder)


def needs_hand_over(site: Site, snap: Snapshot, user: User) -> bool:
    """Servers deployed before this version ran the containers with keep-id, where `coder`
    was the service account itself, which therefore owns the person's files."""
    return any(snap.paths.get(path, PathState("")).user == site.service_account
               for path in mounted(site, user))


def hand_over(site: Site, user: User) -> None:
    """Part of that person's restart in the rollout (containers.py), so everyone keeps
    serving until their own turn: stop the container, hand what the account owns in the
    two folders to `coder`, and the rollout starts it on its new unit. Nothing moves, and
    nothing outside those folders changes (-h: links are changed, never their targets)."""
    account, coder, unit = site.service_account, site.coder_host_uid, layout.unit(user)
    server.shell(
        name=f"Hand {user.name}'s files over to coder's host id {coder} (was keep-id)",
        # A unit that is not there (or not running) is fine; one that will not stop is not.
        commands=[f"{{ {layout.as_account(site, f'systemctl --user stop {unit} 2>/dev/null')}; }}"
                  f" || ! {{ {layout.as_account(site, f'systemctl --user is-active --quiet {unit}')}; }}"]
        + [f"chown -R -h --from={account} {coder} {path} && chown -R -h --from=:{account} :{coder}"
           f" {path} && chmod 750 {path}" for path in mounted(site, user)],
    )


@deploy("Archive of people who left")
def archive_departed(site: Site, snap: Snapshot) -> None:
    """After their containers stopped: each departed person's folder goes to the archive."""
    for name in departed(site, snap):
        folder = layout.user_dir(site, User(name=name, port=0, limits=site.defaults))
        server.shell(name=f"Archive the data of departed user {name}",
                     commands=[f"if [ -d {folder} ]; then mv {folder}"
                               f" {layout.archive_dir(site)}/{name}-$(date +%Y%m%d-%H%M%S); fi"])
