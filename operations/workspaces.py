"""Per-user storage on the host: plain directories, easy to back up and to restore."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from operations.model import Site


@deploy("Workspaces")
def workspaces(site: Site) -> None:
    files.directory(name=f"Workspace base {site.workspace_base}", path=site.workspace_base,
                    user="root", group="root", mode="755")
    files.directory(name="Archive of removed users", path=site.archive_dir,
                    user="root", group="root", mode="700")
    for user in site.users:
        # Owned by the service account, which is `coder` inside the container (keep-id);
        # 0750 keeps other host accounts out.
        for path in (site.user_dir(user), site.workspace_dir(user), site.config_dir(user)):
            files.directory(name=f"{path}", path=path, user=site.service_account,
                            group=site.service_account, mode="750")
