"""Per-person storage on the host: plain directories, easy to back up and to restore; the
data of people who left is moved to the archive, never deleted."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import server

from operations import ensure, layout
from operations.containers import departed
from operations.model import Site, User
from operations.snapshot import Snapshot


@deploy("Workspaces")
def workspaces(site: Site, snap: Snapshot) -> None:
    ensure.directory(snap, f"Workspace base {site.workspace_base}", site.workspace_base, "755")
    ensure.directory(snap, "Archive of removed users", layout.archive_dir(site), "700")
    for user in site.users:
        # Owned by the service account, which is `coder` inside the container (keep-id);
        # 0750 keeps other host accounts out.
        for path in (layout.user_dir(site, user), layout.workspace_dir(site, user),
                     layout.config_dir(site, user)):
            ensure.directory(snap, path, path, "750", site.service_account, site.service_account)


@deploy("Archive of people who left")
def archive_departed(site: Site, snap: Snapshot) -> None:
    """After their containers stopped: each departed person's folder goes to the archive."""
    for name in departed(site, snap):
        folder = layout.user_dir(site, User(name=name, port=0, limits=site.defaults))
        server.shell(name=f"Archive the data of departed user {name}",
                     commands=[f"if [ -d {folder} ]; then mv {folder}"
                               f" {layout.archive_dir(site)}/{name}-$(date +%Y%m%d-%H%M%S); fi"])
