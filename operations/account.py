"""The unprivileged account that owns every container, with its own systemd user manager."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, server

from operations import ensure, layout
from operations.model import Site
from operations.snapshot import Snapshot

SHELL = "/usr/sbin/nologin"


@deploy("Service account")
def account(site: Site, snap: Snapshot) -> None:
    name, uid = site.service_account, site.service_account_uid
    if snap.groups.get(name) != uid:
        server.group(name="Group of the service account", group=name, gid=uid)
    want = {"uid": uid, "gid": uid, "home": layout.account_home(site), "shell": SHELL}
    if snap.passwd.get(name) != want:
        server.user(
            name=f"Rootless service account {name}",
            user=name,
            uid=uid,
            group=name,
            home=layout.account_home(site),
            shell=SHELL,
            system=True,
            create_home=True,
            comment="code-server containers (rootless podman)",
        )
    # A fixed, documented subordinate range: useradd gives system accounts none, and a
    # predictable range keeps file ownership in the workspaces stable across reinstalls.
    line = f"{name}:{site.subid_start}:{site.subid_count}"
    for path in ("/etc/subuid", "/etc/subgid"):
        if snap.subids.get(path) == {line}:
            continue
        if not snap.exists(path):
            files.file(name=f"{path} exists", path=path, touch=False)
        files.line(name=f"Subordinate ids for {name} in {path}", path=path,
                   line=f"^{name}:{site.subid_start}:{site.subid_count}$")

    # Linger starts the user manager at boot, so the containers come back without a login.
    if not snap.exists(layout.linger_file(site)):
        server.shell(name=f"Enable linger for {name}", commands=[f"loginctl enable-linger {name}"])
    started = ensure.service(snap, f"User manager of {name}", f"user@{uid}.service",
                             running=True)
    if started.will_change:
        server.shell(
            name="Wait for the user bus",
            commands=[
                f"for i in $(seq 100); do [ -S {layout.runtime_dir(site)}/bus ] && exit 0; sleep 0.2;"
                f" done; echo 'no user bus at {layout.runtime_dir(site)}/bus' >&2; exit 1"
            ],
        )
