"""The daily check: the real script, run in a sandbox whose df and systemctl replay a host's
answers and whose vscode-alert only records its arguments, posts one event per problem (a
certificate short of days, a full disk, a late or failed backup) and none on a host where
all is well; its units pass systemd's own parser."""

from __future__ import annotations

import ssl
import subprocess
import time

import pytest

from operations import layout
from operations.checks import script_values, unit_values
from operations.model import BACKUP_WARN_HOURS, CERT_WARN_DAYS, DISK_WARN_PERCENT, load
from tests.render import render
from tests.unit.data import with_changes

HOUR = 3600
SCRIPT = "usr/local/sbin/vscode-daily-check.j2"
# df -P -k: the workspaces and the account's home share /var/lib; / is its own filesystem.
DF = """#!/bin/sh
for path; do :; done
echo "Filesystem 1024-blocks Used Available Capacity Mounted on"
case "$path" in
/var/lib/*) echo "/dev/vdb 10485760 $VAR_USED $((10485760 - VAR_USED)) $VAR_PCT% /var/lib" ;;
/) echo "/dev/vda1 4194304 2097152 2097152 50% /" ;;
*) exit 1 ;;
esac
"""
# systemctl show -p NAME --value vscode-backup.service: the backup unit as the test sets it.
SYSTEMCTL = """#!/bin/sh
[ "$1 $2 $4 $5" = "show -p --value vscode-backup.service" ] || exit 1
case "$3" in
ActiveState) echo "$BACKUP_STATE" ;;
Result) echo "$BACKUP_RESULT" ;;
ExecMainExitTimestamp) echo "$BACKUP_ENDED" ;;
ExecMainStartTimestamp) echo "$BACKUP_STARTED" ;;
esac
"""
# date +%s: the test's now; anything else (date -d ...) is the real date's.
DATE = """#!/bin/sh
if [ "$*" = "+%s" ]; then echo "$NOW"; else exec /bin/date "$@"; fi
"""
ALERT = """#!/bin/sh
printf '%s|%s|%s\\n' "$1" "$2" "$3" >> "$CALLS"
exit "${ALERT_STATUS:-0}"
"""


def systemd_time(now: int, seconds_ago: float | None) -> str:
    """A timestamp as `systemctl show` prints it; "" when systemd has none."""
    if seconds_ago is None:
        return ""
    return time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(now - seconds_ago))


def certificate(tmp_path, days: int) -> tuple[str, int]:
    """A real self-signed certificate valid for `days`, and its end (epoch seconds)."""
    path = tmp_path / f"cert-{days}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(path), "-days", str(days), "-subj", "/CN=code.example.com"],
                   check=True, capture_output=True)
    end = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", str(path)], check=True,
                         capture_output=True, text=True).stdout.strip().partition("=")[2]
    return str(path), int(ssl.cert_time_to_seconds(end))


def run_check(tmp_path, cert_days: int | None = 80, disk_percent: int = 50,
              backup_ago: float | None = 2 * HOUR, result: str = "success",
              running_for: float | None = None, uptime: int = 30 * 24 * HOUR,
              alert_status: int = 0, **data) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """The rendered script against a host whose certificate has `cert_days` days and an
    hour left (None: no file), whose /var/lib is `disk_percent` full, and whose last backup
    ended `backup_ago` seconds ago with `result` (None: no record since the boot), or has
    been running for `running_for` seconds. Returns the run and vscode-alert's calls
    [event, subject, text]."""
    site = load(with_changes(**data))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in {"df": DF, "systemctl": SYSTEMCTL, "date": DATE,
                       "vscode-alert": ALERT}.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "uptime").write_text(f"{uptime}.42 123.45\n")
    cert, now = str(tmp_path / "no-such.crt"), int(time.time())
    if cert_days:  # now: an hour past cert_days before its end
        cert, end = certificate(tmp_path, cert_days + 1)
        now = end - cert_days * 86400 - HOUR
    values = script_values(site) | {"alert_script": str(bin_dir / "vscode-alert"),
                                     "uptime_file": str(tmp_path / "uptime")}
    if values["certificate"]:
        values["certificate"] = cert
    (tmp_path / "check").write_text(render(SCRIPT, **values))
    calls = tmp_path / "calls"
    calls.write_text("")
    used = 10485760 * disk_percent // 100
    run = subprocess.run(["sh", str(tmp_path / "check")], capture_output=True, text=True,
                         timeout=30, env={
                             "PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(calls),
                             "NOW": str(now),
                             "VAR_USED": str(used), "VAR_PCT": str(disk_percent),
                             "BACKUP_STATE": "activating" if running_for else "inactive",
                             "BACKUP_RESULT": result,
                             "BACKUP_ENDED": systemd_time(now, None if running_for else backup_ago),
                             "BACKUP_STARTED": systemd_time(now, running_for or (
                                 backup_ago + 600 if backup_ago is not None else None)),
                             "ALERT_STATUS": str(alert_status)})
    return run, [line.split("|") for line in calls.read_text().splitlines()]


def test_all_well_is_quiet(tmp_path):
    """The control: the same sandbox with nothing wrong posts nothing and prints nothing."""
    run, events = run_check(tmp_path)
    assert (run.returncode, run.stdout, run.stderr, events) == (0, "", "", [])


@pytest.mark.parametrize("changes, subject, words", [
    (dict(cert_days=10), "certificate",
     ["10 days left", "*.code.example.com", f"under {CERT_WARN_DAYS}", "vscode-cert-renew"]),
    (dict(cert_days=None), "certificate", ["no certificate", "no-such.crt"]),
    (dict(disk_percent=91), "disk /var/lib",
     ["/var/lib", "91% full", f"from {DISK_WARN_PERCENT}%", "0.9G free of 10.0G"]),
    (dict(backup_ago=40 * HOUR), "backup", ["40 h ago", f"from {BACKUP_WARN_HOURS} h"]),
    (dict(result="exit-code"), "backup", ["failed with result: exit-code", "2 h ago"]),
    (dict(backup_ago=None, uptime=40 * HOUR), "backup", ["no backup", "40 h ago"]),
    (dict(running_for=40 * HOUR), "backup", ["running for 40 h"]),
], ids=["certificate-10-days", "certificate-missing", "disk-91", "backup-40-hours",
        "backup-failed", "backup-none-since-boot", "backup-running-too-long"])
def test_each_problem_is_one_event(tmp_path, changes, subject, words):
    run, events = run_check(tmp_path, **changes)
    assert run.returncode == 0, run.stderr
    assert len(events) == 1, events
    mode, got_subject, text = events[0]
    assert (mode, got_subject) == ("event", subject)
    for word in words:
        assert word in text, (word, text)
    assert run.stdout == f"{subject}: {text}\n"  # one line per problem


@pytest.mark.parametrize("changes", [
    dict(cert_days=14), dict(disk_percent=89), dict(backup_ago=35 * HOUR),
    dict(backup_ago=None, uptime=3 * HOUR), dict(running_for=2 * HOUR),
], ids=["certificate-14-days", "disk-89", "backup-35-hours", "no-record-after-a-boot",
        "backup-running"])
def test_just_inside_the_thresholds_is_quiet(tmp_path, changes):
    """14 days left, 89% full, 35 h: no alert; nor a backup under way (systemd forgets the
    last end when a run starts), nor no record in the first hours after a boot."""
    run, events = run_check(tmp_path, **changes)
    assert (run.returncode, run.stdout, events) == (0, "", [])


def test_three_problems_are_three_events(tmp_path):
    run, events = run_check(tmp_path, cert_days=10, disk_percent=95, backup_ago=40 * HOUR)
    assert run.returncode == 0, run.stderr
    assert [e[1] for e in events] == ["certificate", "disk /var/lib", "backup"]
    assert len(run.stdout.splitlines()) == 3


def test_an_alert_that_cannot_be_sent_fails_the_unit(tmp_path):
    """The unit's own OnFailure= then tries; the other problems are still sent."""
    run, events = run_check(tmp_path, cert_days=10, backup_ago=40 * HOUR, alert_status=1)
    assert run.returncode == 1
    assert [e[1] for e in events] == ["certificate", "backup"]


def test_the_tunnel_mode_has_no_certificate_to_check(tmp_path):
    assert script_values(load(with_changes(tls_mode="tunnel")))["certificate"] == ""
    run, events = run_check(tmp_path, cert_days=None, tls_mode="tunnel")
    assert (run.returncode, events) == (0, [])


@pytest.mark.parametrize("mode", ["acme", "tunnel"])
def test_the_script_is_valid_sh(mode):
    text = render(SCRIPT, **script_values(load(with_changes(tls_mode=mode))))
    run = subprocess.run(["sh", "-n", "-c", text], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def units() -> dict[str, str]:
    return {kind: render(f"etc/systemd/system/{layout.DAILY_CHECK_UNIT}.{kind}.j2", **unit_values())
            for kind in ("service", "timer")}


def test_the_timer_runs_the_script_daily():
    service, timer = (set(text.splitlines()) for text in units().values())
    assert {"Type=oneshot", f"ExecStart={layout.DAILY_CHECK_SCRIPT}",
            "OnFailure=vscode-alert@%n.service"} <= service
    assert {"OnCalendar=daily", "RandomizedDelaySec=1h", "Persistent=true",
            "WantedBy=timers.target"} <= timer


@pytest.mark.parametrize("broken", [False, True], ids=["units", "control"])
def test_units_pass_systemd_analyze_verify(tmp_path, broken):
    """systemd's own parser: no error and no key it ignores; the control misspells one."""
    script = tmp_path / "vscode-daily-check"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    for kind, text in units().items():
        if broken and kind == "timer":
            text = text.replace("Persistent=", "Persistant=")
        text = text.replace(layout.DAILY_CHECK_SCRIPT, str(script))
        (tmp_path / f"{layout.DAILY_CHECK_UNIT}.{kind}").write_text(text)
    run = subprocess.run(["systemd-analyze", "verify", "--man=no",
                          *(str(tmp_path / f"{layout.DAILY_CHECK_UNIT}.{kind}")
                            for kind in ("service", "timer"))],
                         capture_output=True, text=True)
    clean = run.returncode == 0 and "ignoring" not in run.stderr
    assert clean != broken, run.stderr
