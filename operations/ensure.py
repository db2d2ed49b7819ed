"""pyinfra operations emitted only where the host differs from what we want.

Each helper compares the wanted state with the deploy's one `Snapshot` of the host and
returns `UNCHANGED` (no operation, no remote command) when they agree. Otherwise it emits
the stock pyinfra operation, which reads its own facts, makes the change and reports it.
Callers use `.will_change` on the result either way, so restarts and reloads follow exactly
what changes.
"""

from __future__ import annotations

import hashlib
from io import BytesIO
from types import SimpleNamespace

from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.util import get_template
from pyinfra.operations import files, systemd

from operations.snapshot import Snapshot

UNCHANGED = SimpleNamespace(will_change=False)


def render(src: str, **values) -> str:
    """A template rendered as files.template would (pyinfra's loader, StrictUndefined)."""
    return get_template(src).render(**values)


def file(snap: Snapshot, name: str, dest: str, content: str | bytes, mode: str,
         user: str = "root", group: str = "root"):
    data = content.encode() if isinstance(content, str) else content
    if snap.file_is(dest, data, mode, user, group):
        return UNCHANGED
    return files.put(name=name, src=BytesIO(data), dest=dest, user=user, group=group, mode=mode)


@operation(is_idempotent=False)
def _put_secret(dest: str, data: bytes, staging: str):
    """Upload into a root-only staging folder, make it 0600, then rename it into place: the
    file is never readable by others, not even for an instant. files.put would print the
    contents under --diff and leave a new file with the default mode until its chmod.
    The upload goes straight to the staging path, so a sudo login (which uploads through
    /tmp) cannot write there and fails instead of leaking."""
    temp = f"{staging}/.upload-{hashlib.sha256(dest.encode()).hexdigest()[:16]}"
    yield StringCommand("install", "-d", "-m", "700", "-o", "root", "-g", "root", staging)
    yield FileUploadCommand(BytesIO(data), temp, remote_temp_filename=temp)
    yield StringCommand("chmod", "600", temp, "&&", "mv", "-f", temp, dest)


def secret(snap: Snapshot, name: str, dest: str, value: str, staging: str):
    """A root-only 0600 file holding a secret; `staging` is a root-only folder on the same
    filesystem as `dest`."""
    data = value.encode()
    if snap.file_is(dest, data, "600"):
        return UNCHANGED
    return _put_secret(name=name, dest=dest, data=data, staging=staging)


def template(snap: Snapshot, name: str, src: str, dest: str, mode: str = "644",
             user: str = "root", group: str = "root", **values):
    return file(snap, name, dest, render(src, **values), mode, user, group)


def directory(snap: Snapshot, name: str, path: str, mode: str, user: str = "root",
              group: str = "root"):
    if snap.dir_is(path, mode, user, group):
        return UNCHANGED
    return files.directory(name=name, path=path, user=user, group=group, mode=mode)


def link(snap: Snapshot, name: str, path: str, target: str):
    if snap.link_is(path, target):
        return UNCHANGED
    return files.link(name=name, path=path, target=target)


def service(snap: Snapshot, name: str, unit: str, running: bool, enabled: bool | None = None,
            daemon_reload: bool = False):
    """A system unit running (or stopped), and enabled (or not; None leaves that alone)."""
    ok = snap.unit_running(unit) == running and (
        enabled is None or snap.unit_enabled(unit) == enabled)
    if ok and not daemon_reload:
        return UNCHANGED
    kwargs = {} if enabled is None else {"enabled": enabled}
    return systemd.service(name=name, service=unit, running=running,
                           daemon_reload=daemon_reload, **kwargs)
