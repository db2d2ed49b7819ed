"""The benchmark (`./bench`): deploy to a fresh lab VM and print one table of how long
things take and how much memory a workspace uses. A measurement, never a test: nothing here
asserts a time. Run it on an otherwise idle machine; it takes about as long as the lab cycle.

    ./bench            fresh VM, every row
    ./bench --reuse    an already converged lab VM: skips the converge rows
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import deploy, fixtures, vm, vsix
from lab.common import cache_dir, log
from lab.site import lab_site, lab_users
from operations import layout
from operations.model import password_variable

REPO = Path(__file__).resolve().parent.parent
# Extra people for the 5-person rows; their password is irrelevant here.
EXTRA = {
    "carol": 8083, "dave": 8084, "erin": 8085,
}
HASH = ("$argon2id$v=19$m=65536,t=3,p=4$cVgtL+6y99OrhILE3NGWeQ$"
        "TGptzjfMbsVNIom+6Cx/hWVi9wd8WRBg9D4jveUhdt4")
# Which converge step belongs to which phase (by the operation's name).
PHASES = (("packages", ("Install ",)), ("upload base image", ("Upload base image",)),
          ("podman load", ("Load ",)), ("podman build", ("Build localhost",)),
          ("first container starts", ("Restart code-server", "Start code-server")),
          ("certificate (ACME)", ("Obtain the certificate",)))

rows: list[tuple[str, str]] = []


def row(what: str, value: str) -> None:
    rows.append((what, value))
    log(f"bench: {what}: {value}")


def sh(command: str, timeout: float = 600) -> str:
    return vm.ssh(command, timeout=timeout).stdout


def exec_true() -> float:
    """pyinfra's own floor on this VM: `pyinfra inventory.py exec -- true` (median of 3)."""
    times = []
    for _ in range(3):
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "pyinfra", "-y", "inventory.py", "exec", "--",
                        "true"], cwd=REPO, check=True, capture_output=True)
        times.append(time.monotonic() - start)
    return statistics.median(times)


def run_deploy(label: str, users: dict | None = None, extra: str = "") -> deploy.DeployResult:
    group_data = None
    if users is not None or extra:
        folder = Path(tempfile.mkdtemp(prefix="bench-group-data-"))
        text = (f"users = {users!r}\n" if users is not None else "") + extra
        (folder / "lab.py").write_text(text)
        group_data = [folder]
    result = deploy.run(group_data=group_data, log=REPO / "artifacts" / f"bench-{label}.log")
    if result.returncode != 0:
        sys.stderr.write(result.output[-6000:])
        raise SystemExit(f"bench: the {label} deploy failed")
    return result


def phases(result: deploy.DeployResult) -> dict[str, float]:
    """Seconds per phase: each step lasts until the next one starts."""
    ends = [t for t, _ in result.steps[1:]] + [result.seconds]
    out = {"facts and planning": result.steps[0][0] if result.steps else result.seconds}
    for (start, name), end in zip(result.steps, ends, strict=True):
        phase = next((p for p, needles in PHASES if any(n in name for n in needles)), "other")
        out[phase] = out.get(phase, 0.0) + end - start
    return out


def users_with(count: int) -> dict:
    """The lab's users plus the first `count` extra people."""
    users = lab_users()
    for name, port in list(EXTRA.items())[:count]:
        users[name] = {"port": port}
        # The deploy reads each hash from the environment, as from secrets.env.
        os.environ.setdefault(password_variable(name), HASH)
    return users


def memory_row(site, label: str) -> None:
    values = []
    for user in site.users:
        pid = sh(layout.as_account(site, f"podman inspect --format '{{{{.State.Pid}}}}' {layout.container(user)}")).strip()
        cgroup = sh(f"cut -d: -f3 /proc/{pid}/cgroup").strip()
        values.append(int(sh(f"cat /sys/fs/cgroup{cgroup}/memory.current")) / 2**20)
    row(label, ", ".join(f"{v:.0f} MiB" for v in values))


def latency(url_args: str, count: int) -> tuple[float, float]:
    out = sh(f"for i in $(seq {count}); do curl -s -o /dev/null -w '%{{time_total}}\\n'"
             f" {url_args}; done", timeout=1200)
    samples = sorted(float(x) * 1000 for x in out.split())
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> int:
    parser = argparse.ArgumentParser(prog="./bench", description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true",
                        help="use the running, converged lab VM; skip the converge rows")
    parser.add_argument("--requests", type=int, default=300,
                        help="requests for the nginx latency rows (default 300)")
    args = parser.parse_args()
    site = lab_site()
    started = time.monotonic()

    if not args.reuse:
        vm.build()
        vm.down()
        boot = time.monotonic()
        vm.up()
        row("VM boot to SSH", f"{time.monotonic() - boot:.0f} s")
        fixtures.prepare()
        converge = run_deploy("converge")
        row("fresh converge", f"{converge.seconds:.0f} s, {converge.commands} remote commands")
        for phase, seconds in phases(converge).items():
            row(f"  {phase}", f"{seconds:.0f} s")

    floor = exec_true()
    row("pyinfra exec -- true (floor)", f"{floor:.1f} s")
    noop = run_deploy("noop-2")
    row("no-op deploy, 2 people", f"{noop.seconds:.1f} s, {noop.commands} remote commands,"
        f" {noop.seconds / floor:.1f}x the floor, {len(noop.changed)} changed")

    add = run_deploy("add-1", users=users_with(1))
    row("add a person (2 -> 3)", f"{add.seconds:.0f} s, {len(add.changed)} changed operations")
    run_deploy("add-2", users=users_with(3))
    noop5 = run_deploy("noop-5", users=users_with(3))
    row("no-op deploy, 5 people", f"{noop5.seconds:.1f} s, {noop5.commands} remote commands,"
        f" {noop5.seconds / floor:.1f}x the floor, {len(noop5.changed)} changed")
    run_deploy("back-to-2")  # the departed three are archived

    alice = site.users[0]
    memory_row(site, "memory per workspace, idle")
    sh(f"curl -s -o /dev/null -c /tmp/bench-jar --data-urlencode password=lab-alice-password"
       f" http://127.0.0.1:{alice.port}/login; curl -s -o /dev/null -b /tmp/bench-jar"
       f" http://127.0.0.1:{alice.port}/")
    memory_row(site, "memory per workspace, after alice's login")

    start = time.monotonic()
    sh(layout.as_account(site, f"systemctl --user restart {layout.unit(alice)}") + "; until curl -fs -o"
       f" /dev/null http://127.0.0.1:{alice.port}/login; do sleep 0.5; done", timeout=900)
    row("cold start to the login page (restart)", f"{time.monotonic() - start:.0f} s")

    direct = latency(f"http://127.0.0.1:{alice.port}/login", args.requests)
    proxied = latency(f"--cacert {fixtures.PEBBLE_ROOTS} --resolve"
                      f" {layout.hostname(site, alice)}:443:127.0.0.1 https://{layout.hostname(site, alice)}/login",
                      args.requests)
    row(f"login page, container port directly ({args.requests} requests)",
        f"p50 {direct[0]:.1f} ms, p99 {direct[1]:.1f} ms")
    row(f"login page through nginx, HTTPS ({args.requests} requests)",
        f"p50 {proxied[0]:.1f} ms, p99 {proxied[1]:.1f} ms")

    newer = vsix.build(version="1.18.99")
    rebuild = run_deploy("image-rebuild", extra=f"image_extension_vsix = {str(newer)!r}\n")
    row("image rebuild and rollout (new extension)", f"{rebuild.seconds:.0f} s")
    run_deploy("image-back")  # the original image is still there: a rollout, no build

    start = time.monotonic()
    vm.reboot()
    units = " ".join(layout.unit(u) for u in site.users)
    ports = " ".join(str(u.port) for u in site.users)
    sh(f"until {layout.as_account(site, f'systemctl --user is-active -q {units}')}; do sleep 2; done;"
       f" for p in {ports}; do until curl -fs -o /dev/null http://127.0.0.1:$p/healthz;"
       " do sleep 1; done; done", timeout=1200)
    row("reboot until every workspace answers", f"{time.monotonic() - start:.0f} s")

    width = max(len(what) for what, _ in rows)
    print(f"\nvscode-pyinfra benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
          f" {platform.node()} ({os.cpu_count()} cores), lab VM under QEMU TCG;"
          f" total {time.monotonic() - started:.0f} s\n")
    print(f"| {'what':<{width}} | value |\n|{'-' * (width + 2)}|-------|")
    for what, value in rows:
        print(f"| {what:<{width}} | {value} |")
    (REPO / "artifacts").mkdir(exist_ok=True)
    log(f"deploy logs in {REPO / 'artifacts'}; lab cache {cache_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
