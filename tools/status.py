"""Is everyone all right? One table from the laptop: python3 -m tools.status [--inventory …]

Per person: the unit's state and since when, the container's health, memory now and at its
peak against the soft and hard limits, CPU over one second, the last activity in the editor
(code-server's heartbeat), whether the container runs the current image, and the disk used
by their folder (`du`: on a very large workspace this is the slow part). For the server:
days left on the certificate, the last backup, free disk, nginx, and every unit that failed
since boot. Everything is read in one SSH command; nothing is changed.

Exit status 0 when all is well; 1 when something needs a look (the lines marked `!`).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from dataclasses import dataclass, field

from operations import layout
from operations.memory_guard import AT_LIMIT_PERCENT
from operations.model import BACKUP_WARN_HOURS, CERT_WARN_DAYS, DISK_WARN_PERCENT, Site
from tools.server import Server, run_tool

# The `!` thresholds are the daily check's (operations/checks.py), from operations/model.py.
NO_LIMIT = 2**63 - 1
# podman's health check runs as transient units named <container id>-<random>: one that
# failed (a check while a backup paused the container) is no failed service; the health
# column shows the container's state.
PODMAN_TRANSIENT = re.compile(r"[0-9a-f]{64}-[0-9a-f]+\.(?:service|timer)")


def _epoch(expr: str) -> str:
    """Shell: the epoch seconds of the date `expr` prints, or nothing."""
    return f"$(d=$({expr}); [ -n \"$d\" ] && date -d \"$d\" +%s)"


def probe(site: Site) -> str:
    """The one remote command. It prints `kind<TAB>field...` lines, read by `parse`."""
    q = shlex.quote
    backup = f"{layout.BACKUP_UNIT}.service"
    acct = lambda command: f"{layout.as_account_quietly(site)} {command}"  # noqa: E731
    out = [
        "printf 'now\\t%s\\n' \"$(date +%s)\"",
        "ps=$(" + acct("podman ps --format '{{.Names}}\t{{.Image}}\t{{.Pid}}\t{{.Status}}'") + ")",
        "printf '%s\\n' \"$ps\" | sed 's/^/ctr\\t/'",
    ]
    for i, user in enumerate(site.users):
        name, unit = user.name, layout.unit(user)
        out += [
            f"printf 'unit\\t{name}\\t%s\\t%s\\n' \"$({acct(f'systemctl --user is-active {unit}')})\""
            f" \"{_epoch(acct(f'systemctl --user show -p ActiveEnterTimestamp --value {unit}'))}\"",
            f"pid=$(printf '%s\\n' \"$ps\" | awk -F'\\t' '$1==\"{layout.container(user)}\"{{print $3}}');"
            f" cg{i}=; [ -n \"$pid\" ] && [ \"$pid\" != 0 ] &&"
            f" cg{i}=/sys/fs/cgroup$(cut -d: -f3 /proc/$pid/cgroup 2>/dev/null)",
            f"[ -n \"$cg{i}\" ] && printf 'mem\\t{name}\\t%s\\t%s\\t%s\\t%s\\t%s\\n'"
            f" \"$(cat $cg{i}/memory.current)\" \"$(cat $cg{i}/memory.peak 2>/dev/null || echo 0)\""
            f" \"$(cat $cg{i}/memory.high)\" \"$(cat $cg{i}/memory.max)\""
            f" \"$(sed -n 's/^usage_usec //p' $cg{i}/cpu.stat) $(date +%s%N)\"",
            f"printf 'health\\t{name}\\t%s\\n' \"$(curl -s --max-time 5"
            f" http://127.0.0.1:{user.port}/healthz)\"",
            f"printf 'disk\\t{name}\\t%s\\n' \"$(du -sb {q(layout.user_dir(site, user))}"
            " 2>/dev/null | cut -f1)\"",
        ]
    out.append("sleep 1")  # CPU: a second reading of every container's usage
    for i, user in enumerate(site.users):
        out.append(f"[ -n \"$cg{i}\" ] && printf 'cpu\\t{user.name}\\t%s %s\\n'"
                   f" \"$(sed -n 's/^usage_usec //p' $cg{i}/cpu.stat)\" \"$(date +%s%N)\"")
    out += [
        f"printf 'disk_free\\t%s\\n' \"$(df -P -B1 {q(site.workspace_base)}"
        " | awk 'NR==2{print $4 \"\\t\" $2 \"\\t\" $3}')\"",
        "printf 'nginx\\t%s\\n' \"$(systemctl is-active nginx 2>/dev/null)\"",
        f"printf 'cert\\t%s\\n' \"{_epoch(f'openssl x509 -noout -enddate -in {q(layout.certificate_file(site))} 2>/dev/null | cut -d= -f2')}\"",
        # systemd forgets the last run's end when a run starts, and every run at a reboot.
        f"printf 'backup\\t%s\\t%s\\t%s\\t%s\\n' \"$(systemctl show -p Result --value {backup})\""
        f" \"{_epoch(f'systemctl show -p ExecMainExitTimestamp --value {backup}')}\""
        f" \"$(systemctl show -p ActiveState --value {backup})\""
        f" \"{_epoch(f'systemctl show -p ExecMainStartTimestamp --value {backup}')}\"",
        "printf 'uptime\\t%s\\n' \"$(cut -d. -f1 /proc/uptime)\"",
        "systemctl list-units --failed --plain --no-legend | awk '{print \"failed\\t\" $1}'",
        acct("systemctl --user list-units --failed --plain --no-legend")
        + " | awk '{print \"failed\\t\" $1}'",
        "true",
    ]
    return "\n".join(out)


@dataclass
class Person:
    name: str
    state: str = "?"
    since: int = 0
    health: str = "-"
    image: str = ""
    memory: tuple[int, int, int, int] | None = None  # now, peak, high, max (bytes)
    cpu: float | None = None  # cores, over one second
    heartbeat: int = 0  # epoch ms; 0: never
    disk: int | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Status:
    now: int = 0
    people: dict[str, Person] = field(default_factory=dict)
    disk_free: tuple[int, int, int] | None = None  # available, size, used (bytes)
    nginx: str = ""
    cert_end: int | None = None
    backup: tuple[str, int | None] = ("", None)  # result, end of the last run
    backup_running: int | None = None  # the start of the run under way
    uptime: int | None = None  # s
    failed: list[str] = field(default_factory=list)


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def parse(site: Site, output: str) -> Status:
    status = Status(people={u.name: Person(u.name) for u in site.users})
    containers = {layout.container(u): u.name for u in site.users}
    first_cpu: dict[str, tuple[int, int]] = {}
    for line in output.splitlines():
        kind, _, rest = line.partition("\t")
        f = rest.split("\t")
        person = status.people.get(f[0]) if f else None
        if kind == "now":
            status.now = int(f[0])
        elif kind == "ctr" and f[0] in containers:
            p = status.people[containers[f[0]]]
            p.image = f[1]
            p.health = ("healthy" if "(healthy)" in f[3] else "unhealthy" if "(unhealthy)" in f[3]
                        else "starting" if "(starting)" in f[3] else "no check")
        elif kind == "unit" and person:
            person.state, person.since = f[1], _int(f[2]) or 0
        elif kind == "mem" and person:
            now, peak, high, hard = (_int(x) for x in f[1:5])  # "max": no limit
            person.memory = (now or 0, peak or 0, high or NO_LIMIT, hard or NO_LIMIT)
            usage, stamp = f[5].split()
            first_cpu[person.name] = (int(usage), int(stamp))
        elif kind == "cpu" and person and person.name in first_cpu:
            usage, stamp = (int(x) for x in f[1].split())
            u0, t0 = first_cpu[person.name]
            person.cpu = (usage - u0) * 1000 / max(stamp - t0, 1)  # µs / ns -> cores
        elif kind == "health" and person:
            try:
                person.heartbeat = int(json.loads(f[1]).get("lastHeartbeat") or 0)
            except (ValueError, AttributeError):
                person.heartbeat = -1  # no answer
        elif kind == "disk" and person:
            person.disk = _int(f[1])
        elif kind == "disk_free" and len(f) == 3 and all(_int(x) is not None for x in f):
            status.disk_free = (int(f[0]), int(f[1]), int(f[2]))
        elif kind == "nginx":
            status.nginx = f[0]
        elif kind == "cert":
            status.cert_end = _int(f[0])
        elif kind == "backup":
            status.backup = (f[0], _int(f[1]) if len(f) > 1 else None)
            if len(f) > 3 and f[2] == "activating":
                status.backup_running = _int(f[3])
        elif kind == "uptime":
            status.uptime = _int(f[0])
        elif kind == "failed" and f[0] and not PODMAN_TRANSIENT.fullmatch(f[0]):
            status.failed.append(f[0])
    for p in status.people.values():
        if p.state != "active":
            p.problems.append(f"unit {p.state}")
        if p.health not in ("healthy", "starting"):
            p.problems.append(f"health: {p.health}")
        if p.image and p.image != site.image:
            p.problems.append("outdated image")
        # Now, not the peak: page cache fills up to the soft limit in normal use, and is
        # reclaimed there; a program stuck at it is what needs a look (and the memory guard's).
        if p.memory and p.memory[0] * 100 >= AT_LIMIT_PERCENT * p.memory[2]:
            p.problems.append("memory at the soft limit")
    return status


def ago(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def mib(size: int) -> str:
    if size >= NO_LIMIT:
        return "none"
    return f"{size / 1024**2:.0f}M" if size < 10 * 1024**3 else f"{size / 1024**3:.1f}G"


def percent_full(used: int, available: int) -> int:
    """df's Use%: of the space not reserved for root, rounded up."""
    return -(-100 * used // max(used + available, 1))


def backup_line(status: Status) -> tuple[bool, str, str]:
    """The last backup, judged as the daily check judges it: fine when the last run
    succeeded less than BACKUP_WARN_HOURS ago, or one has been running for less than that;
    with no run since the boot, fine until the server has been up that long."""
    result, when = status.backup
    limit = BACKUP_WARN_HOURS * 3600
    if status.backup_running is not None:
        age = status.now - status.backup_running
        return age < limit, "last backup", f"running, started {ago(age)}"
    if when is None:
        if status.uptime is None:
            return False, "last backup", "never ran"
        return status.uptime < limit, "last backup", f"none since the boot {ago(status.uptime)}"
    return (result == "success" and status.now - when < limit, "last backup",
            f"{ago(status.now - when)}: {result}")


def render(site: Site, status: Status) -> tuple[str, bool]:
    """The table and whether everything is fine."""
    rows = [("", "person", "unit", "since", "health", "memory now/peak (high/max)", "cpu",
             "last activity", "image", "disk")]
    for p in status.people.values():
        memory = (f"{mib(p.memory[0])}/{mib(p.memory[1])} ({mib(p.memory[2])}/{mib(p.memory[3])})"
                  if p.memory else "-")
        activity = ("no answer" if p.heartbeat < 0 else "never" if p.heartbeat == 0
                    else ago(status.now - p.heartbeat // 1000))
        rows.append(("!" if p.problems else "", p.name, p.state,
                     ago(status.now - p.since) if p.since else "-", p.health, memory,
                     f"{p.cpu:.2f}" if p.cpu is not None else "-", activity,
                     "-" if not p.image else "current" if p.image == site.image else "OUTDATED",
                     mib(p.disk) if p.disk is not None else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    problems = [f"{p.name}: {', '.join(p.problems)}" for p in status.people.values() if p.problems]

    server: list[tuple[bool, str, str]] = []  # (ok, what, value)
    if site.uses_proxy:
        server.append((status.nginx == "active", "nginx", status.nginx or "?"))
        if status.cert_end is None:
            server.append((False, "certificate", "not found"))
        else:
            days = (status.cert_end - status.now) // 86400
            server.append((days >= CERT_WARN_DAYS, "certificate", f"{days} days left"))
    server.append(backup_line(status))
    if status.disk_free:
        free, size, used = status.disk_free
        server.append((percent_full(used, free) < DISK_WARN_PERCENT, "free disk",
                       f"{mib(free)} of {mib(size)} ({100 * free // max(size, 1)}%)"))
    server.append((not status.failed, "failed units",
                   ", ".join(status.failed) if status.failed else "none"))
    lines.append("")
    lines += [f"{'' if ok else '!':1}  {what + ':':14} {value}" for ok, what, value in server]
    fine = not problems and all(ok for ok, _, _ in server)
    lines += [f"!  {p}" for p in problems]
    return "\n".join(lines), fine


def status(server: Server, args: argparse.Namespace) -> int:
    table, fine = render(server.site, parse(server.site, server.run(probe(server.site),
                                                                    check=False).stdout))
    print(table)
    return 0 if fine else 1


def main(argv: list[str] | None = None) -> int:
    return run_tool(__doc__, "tools.status", lambda parser: None, status, argv, error_status=2)


if __name__ == "__main__":
    sys.exit(main())
