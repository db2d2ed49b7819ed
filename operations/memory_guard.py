"""The memory guard: a root service that ends a program running away at a workspace's soft
memory limit, inside that container only, and alerts.

Without swap, a program that keeps allocating is throttled at memory.high (state D) for as
long as it runs, and never reaches memory.max, where the kernel would OOM-kill it. The guard
(templates/usr/local/sbin/vscode-memory-guard.j2) reads each container's cgroup files every
INTERVAL s; when one sits at its soft limit under full memory pressure for SAMPLES looks in a
row, it lifts memory.high, so the runaway reaches memory.max and the kernel kills the largest
process of that container (the runaway, not code-server); then it puts the soft limit back
and alerts. systemd-oomd is not used: it kills a whole cgroup, i.e. the whole container with
the person's editor.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd

from operations import ensure, layout
from operations.layout import MEMORY_GUARD_SCRIPT, MEMORY_GUARD_UNIT, SYSTEM_UNITS
from operations.model import REPO, Site
from operations.snapshot import Snapshot

TEMPLATES = REPO / "templates"
SCRIPT_TEMPLATE = TEMPLATES / "usr/local/sbin/vscode-memory-guard.j2"
UNIT_TEMPLATE = TEMPLATES / f"etc/systemd/system/{MEMORY_GUARD_UNIT}.service.j2"
CGROUP_ROOT = "/sys/fs/cgroup"
STATE_DIR = f"/run/{MEMORY_GUARD_UNIT}"  # the unit's RuntimeDirectory=, root-only
CLOCK = "/proc/uptime"  # seconds since boot: immune to clock changes

INTERVAL = 5  # s between two looks at every workspace (a few file reads each)
# The trigger: memory.current at AT_LIMIT_PERCENT of memory.high or more (at the soft limit;
# reclaim keeps it a little under), and "full avg10" of memory.pressure at PRESSURE % or more
# (all of the container's busy processes stalled on memory for that share of the last 10 s),
# in SAMPLES looks in a row (avg10 has to climb past 40 %, then 3 looks 5 s apart); the
# runaway then reaches the hard limit within seconds. Measured in the lab: killed 24-31 s
# after it reached the soft limit, well inside 60 s. Page cache at the soft limit is reclaimed
# with almost no stall, so normal use never gets there.
AT_LIMIT_PERCENT = 98
PRESSURE = 40
SAMPLES = 3
KILL_WAIT = 30  # s the soft limit stays lifted at most, waiting for the kernel's OOM kill
COOLDOWN = 300  # s a workspace is left alone after a lift that killed nothing


def script_values(site: Site) -> dict:
    """What templates/usr/local/sbin/vscode-memory-guard.j2 needs."""
    return {
        "cgroup_root": CGROUP_ROOT, "account_uid": site.service_account_uid,
        "state_dir": STATE_DIR, "clock": CLOCK, "alert_script": layout.ALERT_SCRIPT,
        "unit_prefix": layout.UNIT_PREFIX, "interval": INTERVAL, "samples": SAMPLES,
        "pressure": PRESSURE, "at_limit_percent": AT_LIMIT_PERCENT, "kill_wait": KILL_WAIT,
        "cooldown": COOLDOWN,
        "workspaces": [(layout.unit(u), u.limits.memory_high) for u in site.users],
    }


def unit_values() -> dict:
    return {"unit": MEMORY_GUARD_UNIT, "script": MEMORY_GUARD_SCRIPT,
            "on_failure": layout.on_failure()}


@deploy("Memory guard")
def memory_guard(site: Site, snap: Snapshot) -> None:
    service = f"{MEMORY_GUARD_UNIT}.service"
    script = ensure.template(snap, "vscode-memory-guard: end a runaway at the soft limit",
                             str(SCRIPT_TEMPLATE), MEMORY_GUARD_SCRIPT, mode="755",
                             **script_values(site))
    unit = ensure.template(snap, service, str(UNIT_TEMPLATE), f"{SYSTEM_UNITS}/{service}",
                           **unit_values())
    if (script.will_change or unit.will_change) and snap.unit_running(service):
        # A new script (e.g. a person added, a limit changed) only acts after a restart; the
        # stop puts back any soft limit the old one had lifted.
        systemd.service(name=f"{service} restarts on its new script or unit", service=service,
                        running=True, restarted=True, enabled=True,
                        daemon_reload=unit.will_change)
    else:
        ensure.service(snap, f"{service} runs and starts at boot", service, running=True,
                       enabled=True, daemon_reload=unit.will_change)
