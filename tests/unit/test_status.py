"""tools.status: the probe is one valid shell command, and its output becomes one table
whose `!` lines and exit status follow what needs a look."""

from __future__ import annotations

import subprocess

from operations import layout
from operations.model import load
from tests.unit.data import with_changes
from tools.status import parse, probe, render

NOW = 1_764_820_000


def output(site, image=None, state="active", health="healthy", peak=700 * 1024**2,
           current=500 * 1024**2,
           backup=("success", NOW - 3600), cert_days=80, failed=(),
           disk=(50 * 1024**3, 100 * 1024**3, 45 * 1024**3), running=None, uptime=None) -> str:
    lines = [f"now\t{NOW}"]
    for i, user in enumerate(site.users):
        lines += [
            f"ctr\t{layout.container(user)}\t{image or site.image}\t{4000 + i}\tUp 3 hours ({health})",
            f"unit\t{user.name}\t{state}\t{NOW - 7200}",
            f"mem\t{user.name}\t{current}\t{peak}\t{user.limits.memory_high}\t"
            f"{user.limits.memory_max}\t1000000 {NOW * 10**9}",
            f"health\t{user.name}\t{{\"status\":\"alive\",\"lastHeartbeat\":{(NOW - 300) * 1000}}}",
            f"disk\t{user.name}\t{2 * 1024**3}",
            f"cpu\t{user.name}\t1500000 {NOW * 10**9 + 10**9}",
        ]
    state = "activating" if running else "inactive"
    lines += ["disk_free\t{}\t{}\t{}".format(*disk), "nginx\tactive",
              f"cert\t{NOW + cert_days * 86400}",
              f"backup\t{backup[0]}\t{backup[1] or ''}\t{state}\t{running or ''}"]
    if uptime is not None:
        lines.append(f"uptime\t{uptime}")
    lines += [f"failed\t{unit}" for unit in failed]
    return "\n".join(lines)


def site():
    return load(with_changes())


def test_the_probe_is_one_valid_shell_command():
    run = subprocess.run(["sh", "-n", "-c", probe(site())], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_all_well_is_one_table_and_exit_zero():
    s = site()
    table, fine = render(s, parse(s, output(s)))
    assert fine, table
    assert "!" not in table
    lines = table.splitlines()
    alice = next(line for line in lines if line.split()[:1] == ["alice"])
    assert "active" in alice and "healthy" in alice and "current" in alice
    assert "0.50" in alice and "5 min ago" in alice and "2048M" in alice  # cpu, heartbeat, disk
    assert any("certificate:" in line and "80 days left" in line for line in lines)
    assert any("last backup:" in line and "60 min ago: success" in line for line in lines)
    # Page cache that once filled up to the soft limit (the peak) is normal use.
    cached = site()
    table, fine = render(cached, parse(cached, output(cached, peak=int(2.6 * 1024**3))))
    assert fine and "!" not in table, table


def test_each_kind_of_trouble_is_marked_and_fails():
    s = site()
    cases = {
        "outdated image": dict(image="localhost/vscode-workspace:0ld"),
        "unit failed": dict(state="failed"),
        "health: unhealthy": dict(health="unhealthy"),
        "memory at the soft limit": dict(current=int(2.55 * 1024**3), peak=int(2.55 * 1024**3)),
        "last backup": dict(backup=("exit-code", NOW - 3600)),
        "never ran": dict(backup=("success", None)),
        "certificate": dict(cert_days=13),
        "free disk": dict(disk=(9 * 1024**3, 100 * 1024**3, 86 * 1024**3)),  # df: 91%
        "none since the boot": dict(backup=("success", None), uptime=36 * 3600),
        "running, started 36 h ago": dict(backup=("success", None), running=NOW - 36 * 3600),
        "failed units": dict(failed=["vscode-backup.service"]),
    }
    # podman's transient health-check units are no failed services (the health column
    # shows the container's health).
    transient = "16b2d6ed45f9ba255574b1e40bf4ec72ec4598f880659417221351557d91a10d-504a0773c1e923e9.service"
    table, fine = render(s, parse(s, output(s, failed=[transient])))
    assert fine, table
    # Just under each threshold (operations/model.py's, the daily check's too) is fine; so are
    # a backup under way and no record in the first hours after a boot.
    for changes in (dict(cert_days=14), dict(backup=("success", NOW - 36 * 3600 + 60)),
                    dict(disk=(11 * 1024**3, 100 * 1024**3, 84 * 1024**3)),  # df: 89%
                    dict(backup=("success", None), running=NOW - 3600),
                    dict(backup=("success", None), uptime=3 * 3600)):
        table, fine = render(s, parse(s, output(s, **changes)))
        assert fine, (changes, table)
    for expected, changes in cases.items():
        table, fine = render(s, parse(s, output(s, **changes)))
        assert not fine, expected
        marked = [line for line in table.splitlines() if line.startswith("!")]
        assert any(expected in line for line in marked), (expected, table)
