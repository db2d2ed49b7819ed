"""Put back a person's files from the backups, from the laptop, like the deploy.

    python3 -m tools.restore NAME --list
    python3 -m tools.restore NAME [--snapshot ID|latest]                 the whole folder
    python3 -m tools.restore NAME [--snapshot ID|latest] --path PATH     one file or folder

Whole: the snapshot is unpacked next to the person's folder first; only when that worked is
their container stopped, their current folder moved into the archive
(<workspace_base>/.archive/NAME-<time>-before-restore: nothing is deleted) and the restored
one put in its place. The container starts again and must answer /healthz; if it does not,
the folder that was there before goes back and starts again.

--path: one file or folder while the workspace keeps running. PATH is relative to the
workspace folder (what the person sees in VS Code's explorer, e.g. `notes/todo.md`), or
absolute inside the container (`/home/coder/.bashrc`). A file or folder already there is
moved aside to PATH.before-restore-<time>, never overwritten.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from operations import layout
from operations.model import User
from tools.server import Server, ToolError, run_tool, say, stamp


def snapshots(server: Server, user: User) -> list[dict]:
    """The person's snapshots, oldest first."""
    out = server.run(f"{layout.BACKUP_SCRIPT} restic snapshots --json --no-lock"
                     f" --tag {layout.BACKUP_TAG},{layout.backup_tag(user)}").stdout
    return sorted(json.loads(out or "[]"), key=lambda s: s["time"])


def pick(found: list[dict], user: User, wanted: str) -> dict:
    if not found:
        raise ToolError(f"there is no backup of {user.name} yet (the first runs at night, or "
                        f"now with: systemctl start {layout.BACKUP_UNIT})")
    if wanted == "latest":
        return found[-1]
    matches = [s for s in found if s["id"].startswith(wanted) or s.get("short_id") == wanted]
    if len(matches) != 1:
        raise ToolError(f"{wanted!r} is not one of {user.name}'s snapshots "
                        "(see --list for their IDs)")
    return matches[0]


def when(snap: dict) -> str:
    """restic's time (RFC 3339, the server's zone) to the second: 2026-12-04 03:01:02."""
    return snap["time"][:19].replace("T", " ")


def print_list(found: list[dict], user: User) -> None:
    print(f"{'snapshot':10} {'time (server)':20} {'files':>8} {'size':>10}")
    for snap in found:
        summary = snap.get("summary") or {}
        size = summary.get("total_bytes_processed")
        print(f"{snap['short_id']:10} {when(snap):20} {summary.get('total_files_processed', '?'):>8}"
              f" {f'{size / 1024**2:.1f} MiB' if size is not None else '?':>10}")
    if not found:
        print(f"(no backup of {user.name} yet)")


def unpack(server: Server, snap: dict, staging: str, wanted: str, missing: str,
           whole: bool = False) -> str:
    """restic restores `wanted` (a path in the snapshot; `whole`: the whole snapshot, whose
    folder it is) into `staging` (under workspace_base: the same file system, so the moves
    that follow are renames); returns where it landed. On failure, or if the snapshot holds
    no `wanted` (`missing` says so), nothing else has changed and the staging goes."""
    server.run(f"install -d -m 700 {staging}")
    only = "" if whole else f" --include {shlex.quote(wanted)}"
    try:
        server.run(f"{layout.BACKUP_SCRIPT} restic restore {snap['id']}"
                   f" --target {staging}{only}")
    except ToolError as error:
        server.run(f"rm -rf {staging}", check=False)
        raise ToolError(f"{error}\nNothing was changed: the workspace is as it was.") from None
    restored = f"{staging}{wanted}"
    if not server.exists(restored):
        server.run(f"rm -rf {staging}")
        raise ToolError(f"{missing}; nothing was changed")
    return restored


def restore_whole(server: Server, user: User, snap: dict) -> None:
    site, now = server.site, stamp()
    folder = layout.user_dir(site, user)
    staging = layout.restore_staging(site, user, now)
    source = snap["paths"][0]  # the folder as it was on the server that made the backup
    say(f"unpacking snapshot {snap['short_id']} of {when(snap)} ...")
    restored = unpack(server, snap, staging, source, f"the snapshot holds no {source}",
                      whole=True)
    before = layout.archived(site, user, now, "before-restore")
    say(f"stopping {user.name}'s workspace; the current folder goes to {before}")
    if server.while_stopped(user, f"install -d -m 700 {layout.archive_dir(site)}"
                                  f" && mv {folder} {before} && mv {restored} {folder}"
                                  f" && rm -rf {staging}"):
        say(f"{user.name} is restored from {snap['short_id']} ({when(snap)}) and serving.")
        return
    log = server.last_log(user)
    serving = server.while_stopped(user, f"mv {folder} {layout.archived(site, user, now, 'failed-restore')}"
                                         f" && mv {before} {folder}")
    raise ToolError(f"{user.name}'s restored workspace did not answer /healthz; the folder that "
                    f"was there before is back{' and serving' if serving else ''}. The "
                    f"restored copy is in the archive ({user.name}-{now}-failed-restore). "
                    f"Its last log lines:\n{log}")


def restore_path(server: Server, user: User, snap: dict, path: str) -> None:
    site, now = server.site, stamp()
    try:
        target = layout.host_path(site, user, path)
    except ValueError as error:
        raise ToolError(str(error)) from None
    folder = layout.user_dir(site, user)
    inside = snap["paths"][0] + target[len(folder):]  # the same file in the snapshot
    staging = layout.restore_staging(site, user, now)
    say(f"unpacking {path} from snapshot {snap['short_id']} of {when(snap)} ...")
    restored = unpack(server, snap, staging, inside,
                      f"{path} is not in snapshot {snap['short_id']}")
    # Missing parent folders are made as they were in the snapshot (owner, mode).
    parents, parent = [], target.rsplit("/", 1)[0]
    while len(parent) > len(folder) and not server.exists(parent):
        parents.insert(0, parent)
        parent = parent.rsplit("/", 1)[0]
    steps = []
    for made in parents:
        q, like = shlex.quote(made), shlex.quote(staging + snap["paths"][0] + made[len(folder):])
        steps.append(f"mkdir {q} && chown --reference={like} {q} && chmod --reference={like} {q}")
    aside = f"{target}.before-restore-{now}"
    if server.exists(target):
        steps.append(f"mv {shlex.quote(target)} {shlex.quote(aside)}")
        say(f"the current {path} is kept as {aside.rsplit('/', 1)[1]}")
    steps.append(f"mv {shlex.quote(restored)} {shlex.quote(target)}")
    server.run(" && ".join(steps))
    server.run(f"rm -rf {staging}")
    say(f"{path} is restored from {snap['short_id']} ({when(snap)}); the workspace kept running.")


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the person, as in group data")
    parser.add_argument("--snapshot", default="latest", help="an ID from --list (default: latest)")
    parser.add_argument("--path", help="only this file or folder (relative to the workspace)")
    parser.add_argument("--list", action="store_true", help="list the person's snapshots")


def restore(server: Server, args: argparse.Namespace) -> None:
    user = server.person(args.name)
    found = snapshots(server, user)
    if args.list:
        print_list(found, user)
        return
    snap = pick(found, user, args.snapshot)
    if args.path:
        restore_path(server, user, snap, args.path)
    else:
        restore_whole(server, user, snap)


def main(argv: list[str] | None = None) -> int:
    return run_tool(__doc__, "tools.restore", arguments, restore, argv)


if __name__ == "__main__":
    sys.exit(main())
