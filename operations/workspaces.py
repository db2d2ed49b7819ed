"""Per-user storage on the host: plain directories, easy to back up and to restore."""

from __future__ import annotations

from pyinfra.api import deploy

from operations import ensure
from operations.model import Site
from operations.snapshot import Snapshot


@deploy("Workspaces")
def workspaces(site: Site, snap: Snapshot) -> None:
    ensure.directory(snap, f"Workspace base {site.workspace_base}", site.workspace_base, "755")
    ensure.directory(snap, "Archive of removed users", site.archive_dir, "700")
    for user in site.users:
        # Owned by the service account, which is `coder` inside the container (keep-id);
        # 0750 keeps other host accounts out.
        for path in (site.user_dir(user), site.workspace_dir(user), site.config_dir(user)):
            ensure.directory(snap, path, path, "750", site.service_account, site.service_account)
