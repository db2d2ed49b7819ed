"""The memory guard: the real script, run in a sandbox against a fake cgroup tree (files in a
tmp dir, as the kernel shows them), with an alert script and a journalctl that only record
or replay. A workspace stuck at its soft limit under full memory pressure gets memory.high
lifted, and back once the kernel's OOM kill shows in memory.events, with one alert; page
cache at the soft limit (no pressure), or pressure below the soft limit, is left alone. The
lab proves it on a real kernel."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from operations import layout, memory_guard
from operations.memory_guard import KILL_WAIT, SAMPLES, script_values, unit_values
from operations.model import load
from tests.render import render
from tests.unit.data import with_changes

SCRIPT = "usr/local/sbin/vscode-memory-guard.j2"
UNIT = f"etc/systemd/system/{layout.MEMORY_GUARD_UNIT}.service.j2"
MIB = 1024**2


@pytest.fixture
def site():
    return load(with_changes())


class Sandbox:
    """A fake /sys/fs/cgroup with alice's and bob's containers, a clock, stubs, state."""

    def __init__(self, site, tmp_path: Path, nested: bool = False, **overrides):
        self.site, self.tmp = site, tmp_path
        self.root = tmp_path / "cgroup"
        uid = site.service_account_uid
        manager = self.root / f"user.slice/user-{uid}.slice/user@{uid}.service"
        self.cgroups = {}
        for user in site.users:
            if nested:  # another slice, and a container cgroup podman named otherwise
                unit_dir = manager / "workspaces.slice/people.slice" / layout.unit(user)
                container = unit_dir / "zz-container"
            else:  # quadlet's --cgroups=split under app.slice
                unit_dir = manager / "app.slice" / layout.unit(user)
                container = unit_dir / f"libpod-payload-{user.name}0123456789abcdef"
            (unit_dir / "runtime").mkdir(parents=True)  # conmon's: no limit
            (unit_dir / "runtime/memory.max").write_text("max\n")
            (unit_dir / "memory.max").write_text("max\n")
            container.mkdir()
            self.cgroups[user.name] = container
            self.set(user.name, **{"memory.max": user.limits.memory_max,
                                   "memory.high": user.limits.memory_high,
                                   "memory.current": 64 * MIB})
            self.pressure(user.name, 0.0)
            self.kills(user.name, 0)
        (manager / "init.scope").mkdir()
        self.clock(1000)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        self.alerts = tmp_path / "alerts"
        stubs = {
            "vscode-alert": f'#!/bin/sh\nprintf "%s|" "$@" >> {self.alerts}\necho >> {self.alerts}\n',
            # The kernel's line for a memcg OOM kill, in whichever container was asked about.
            "journalctl": f"#!/bin/sh\ncat {tmp_path}/kernel-log 2>/dev/null\n",
        }
        for name, text in stubs.items():
            (bin_dir / name).write_text(text)
            (bin_dir / name).chmod(0o755)
        self.env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
        values = script_values(site) | {
            "cgroup_root": str(self.root), "state_dir": str(tmp_path / "state"),
            "clock": str(tmp_path / "uptime"), "alert_script": str(bin_dir / "vscode-alert"),
            **overrides}
        self.script = tmp_path / "vscode-memory-guard"
        self.script.write_text(render(SCRIPT, **values))

    def set(self, person: str, **files) -> None:
        for name, value in files.items():
            (self.cgroups[person] / name).write_text(f"{value}\n")

    def get(self, person: str, name: str) -> str:
        return (self.cgroups[person] / name).read_text().strip()

    def pressure(self, person: str, full: float) -> None:
        (self.cgroups[person] / "memory.pressure").write_text(
            f"some avg10={full:.2f} avg60=1.00 avg300=0.50 total=123456\n"
            f"full avg10={full:.2f} avg60=1.00 avg300=0.50 total=98765\n")

    def kills(self, person: str, count: int) -> None:
        (self.cgroups[person] / "memory.events").write_text(
            f"low 0\nhigh 4242\nmax 17\noom {count}\noom_kill {count}\noom_group_kill 0\n")

    def clock(self, seconds: int) -> None:
        (self.tmp / "uptime").write_text(f"{seconds}.42 {seconds * 2}.17\n")

    def kernel_killed(self, person: str, task: str, pid: int) -> None:
        memcg = "/" + str(self.cgroups[person].relative_to(self.root))
        (self.tmp / "kernel-log").write_text(
            "Memory cgroup stats for /user.slice:\n"
            f"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
            f"oom_memcg={memcg},task_memcg={memcg},task={task},pid={pid},uid=1000999\n"
            f"Memory cgroup out of memory: Killed process {pid} ({task}) total-vm:3300000kB\n")

    def runaway(self, person: str) -> None:
        """At its soft limit, all its busy processes stalled 80 % of the last 10 s."""
        self.set(person, **{"memory.current": self.get(person, "memory.high")})
        self.pressure(person, 80.0)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        cwd = self.tmp / "cwd"
        cwd.mkdir(exist_ok=True)
        run = subprocess.run(["sh", str(self.script), *args], capture_output=True, text=True,
                             env=self.env, timeout=30, cwd=cwd)
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.stderr == "", run.stderr
        assert list(cwd.iterdir()) == [], "the guard wrote outside its state folder"
        return run

    def sent(self) -> list[list[str]]:
        if not self.alerts.exists():
            return []
        return [line.rstrip("|").split("|") for line in self.alerts.read_text().splitlines()]


def soft(site, person: str) -> str:
    return str(next(u for u in site.users if u.name == person).limits.memory_high)


@pytest.mark.parametrize("nested", [False, True], ids=["app.slice-payload", "other-slice"])
def test_a_runaway_gets_its_soft_limit_lifted_until_the_kernel_kills_then_it_is_back(
        site, tmp_path, nested):
    box = Sandbox(site, tmp_path, nested=nested)
    box.runaway("alice")
    for _ in range(SAMPLES - 1):
        box.run("once")
        assert box.get("alice", "memory.high") == soft(site, "alice"), "lifted too early"
    out = box.run("once").stdout
    assert box.get("alice", "memory.high") == "max"
    assert "code-server-alice: stuck at its soft limit" in out and "avg10=80%" in out
    assert box.sent() == []
    # Not killed yet: the limit stays lifted (the runaway is on its way to memory.max).
    box.clock(1000 + KILL_WAIT - 5)
    box.run("once")
    assert box.get("alice", "memory.high") == "max"
    # The kernel killed inside alice's container: the soft limit is back, one alert.
    box.kills("alice", 1)
    box.kernel_killed("alice", "python3", 4242)
    out = box.run("once").stdout
    assert box.get("alice", "memory.high") == soft(site, "alice")
    [alert] = box.sent()
    assert alert[:2] == ["event", "memory-guard"]
    text = alert[2]
    for part in ("alice's workspace", "container code-server-alice", "2560 MiB", "3072 MiB",
                 "python3 (pid 4242)", "soft limit is back"):
        assert part in text, text
    assert "ALERT:" in out
    # Bob was never touched; nothing more happens once the runaway is gone.
    assert box.get("bob", "memory.high") == soft(site, "bob")
    box.set("alice", **{"memory.current": 200 * MIB})
    for _ in range(SAMPLES + 1):
        box.run("once")
    assert box.get("alice", "memory.high") == soft(site, "alice") and len(box.sent()) == 1


@pytest.mark.parametrize("current,full", [
    (2000 * MIB, 95.0),  # stalled, but below its soft limit (e.g. on the disk): not ours
    (None, 5.0),  # at its soft limit, page cache reclaimed with hardly a stall: normal use
], ids=["pressure-below-the-soft-limit", "page-cache-at-the-soft-limit"])
def test_controls_are_left_alone(site, tmp_path, current, full):
    box = Sandbox(site, tmp_path)
    box.set("alice", **{"memory.current": current or site.users[0].limits.memory_high})
    box.pressure("alice", full)
    for _ in range(SAMPLES * 3):
        box.run("once")
    assert box.get("alice", "memory.high") == soft(site, "alice")
    assert box.sent() == []


def test_the_looks_must_be_in_a_row(site, tmp_path):
    box = Sandbox(site, tmp_path)
    for _ in range(3):
        box.runaway("alice")
        for _ in range(SAMPLES - 1):
            box.run("once")
        box.pressure("alice", 10.0)  # it let go for a moment
        box.run("once")
    assert box.get("alice", "memory.high") == soft(site, "alice")


def test_a_lift_that_kills_nothing_is_undone_and_alerts_then_the_workspace_rests(site, tmp_path):
    box = Sandbox(site, tmp_path)
    box.runaway("bob")
    for _ in range(SAMPLES):
        box.run("once")
    assert box.get("bob", "memory.high") == "max"
    box.clock(1000 + KILL_WAIT)
    box.run("once")
    assert box.get("bob", "memory.high") == soft(site, "bob")
    [alert] = box.sent()
    assert "bob's workspace" in alert[2] and "ended nothing" in alert[2]
    # Still stuck: left alone for the cool-down, then watched again.
    for _ in range(SAMPLES + 1):
        box.run("once")
    assert box.get("bob", "memory.high") == soft(site, "bob")
    box.clock(1000 + KILL_WAIT + memory_guard.COOLDOWN + 1)
    for _ in range(SAMPLES):
        box.run("once")
    assert box.get("bob", "memory.high") == "max"


def test_a_restarted_container_drops_the_lift(site, tmp_path):
    box = Sandbox(site, tmp_path)
    box.runaway("alice")
    for _ in range(SAMPLES):
        box.run("once")
    old = box.cgroups["alice"]
    new = old.with_name("libpod-payload-fresh")
    old.rename(new)
    box.cgroups["alice"] = new
    box.set("alice", **{"memory.high": soft(site, "alice"), "memory.current": 64 * MIB})
    out = box.run("once").stdout
    assert "the container changed" in out
    assert box.get("alice", "memory.high") == soft(site, "alice") and box.sent() == []


def test_restore_puts_back_the_lifted_value_or_the_units_own(site, tmp_path):
    """After a crash of the guard: a lift it remembers goes back to the value it lifted; one
    it does not know of (its state lost) to the soft limit the unit asks for."""
    box = Sandbox(site, tmp_path)
    box.set("alice", **{"memory.high": 1000 * MIB})  # not the configured value: remembered
    box.runaway("alice")
    for _ in range(SAMPLES):
        box.run("once")
    box.set("bob", **{"memory.high": "max"})
    box.run("restore")
    assert box.get("alice", "memory.high") == str(1000 * MIB)
    assert box.get("bob", "memory.high") == soft(site, "bob")
    assert list((tmp_path / "state").iterdir()) == []


def test_the_service_restores_on_start_and_on_stop(site, tmp_path):
    box = Sandbox(site, tmp_path, interval=1)
    box.set("bob", **{"memory.high": "max"})  # left lifted by a guard that was killed
    box.runaway("alice")
    guard = subprocess.Popen(["sh", str(box.script)], env=box.env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while box.get("alice", "memory.high") != "max" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert box.get("alice", "memory.high") == "max"
        assert box.get("bob", "memory.high") == soft(site, "bob")
    finally:
        guard.send_signal(signal.SIGTERM)
        out = guard.communicate(timeout=10)[0]
    assert guard.returncode == 0, out
    assert box.get("alice", "memory.high") == soft(site, "alice"), out
    assert "watching 2 workspace(s)" in out


def test_the_script_has_every_persons_unit_and_soft_limit(site):
    script = render(SCRIPT, **script_values(site))
    for user in site.users:
        assert f'"$1" {layout.unit(user)} {user.limits.memory_high}' in script
    assert "USER_ROOT=$ROOT/user.slice/user-1500.slice/user@1500.service" in script
    assert "ROOT=/sys/fs/cgroup" in script and f"ALERT={layout.ALERT_SCRIPT}" in script
    assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0
    # 60 s from the soft limit to the kill: the looks, avg10's climb, the wait for the kill.
    assert memory_guard.INTERVAL * (SAMPLES + 1) + 10 <= 30


def test_the_deploy_reads_the_guards_files_and_unit():
    args = layout.snapshot_args(load(with_changes()), [], [], [])
    assert layout.MEMORY_GUARD_SCRIPT in args["paths"]
    assert f"{layout.SYSTEM_UNITS}/{layout.MEMORY_GUARD_UNIT}.service" in args["paths"]
    assert f"{layout.MEMORY_GUARD_UNIT}.service" in args["units"]


def test_the_unit_runs_the_guard_always_and_alerts_on_failure():
    lines = render(UNIT, **unit_values()).splitlines()
    for line in (f"ExecStart={layout.MEMORY_GUARD_SCRIPT} run", "Restart=always",
                 "OnFailure=vscode-alert@%n.service", "WantedBy=multi-user.target",
                 f"RuntimeDirectory={layout.MEMORY_GUARD_UNIT}"):
        assert line in lines
    assert not any(line.startswith("ProtectControlGroups=") for line in lines)


@pytest.mark.parametrize("broken", [False, True], ids=["unit", "control"])
def test_the_unit_passes_systemd_analyze_verify(tmp_path, broken):
    """systemd's own parser: no error and no key it ignores; the control misspells one."""
    text = render(UNIT, **unit_values()).replace(layout.MEMORY_GUARD_SCRIPT,
                                                 str(tmp_path / "vscode-memory-guard"))
    if broken:
        text = text.replace("RestartSec=", "RestartSecs=")
    unit = tmp_path / f"{layout.MEMORY_GUARD_UNIT}.service"
    unit.write_text(text)
    (tmp_path / "vscode-memory-guard").write_text("#!/bin/sh\n")
    (tmp_path / "vscode-memory-guard").chmod(0o755)
    run = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                         capture_output=True, text=True)
    clean = run.returncode == 0 and "ignoring" not in run.stderr
    assert clean != broken, run.stderr
