"""The backup drill (issue: backups that restore), on the converged lab VM: real restic, the
real systemd service, the real tools from the laptop's side.

Files (one in a nested folder) and a small SQLite database go into alice's workspace; the
backup service runs; then one file is deleted, one corrupted and a folder removed; a single
path comes back, then the whole workspace, each byte-identical; a reset moves VS Code's data
aside and keeps the work; an unreachable repository fails loudly and changes nothing."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from lab.site import LAB_PASSWORDS
from operations import layout
from tests.lab.helpers import (
    ARTIFACTS,
    alerts_posted,
    https_status,
    in_container,
    login,
    person,
    sh,
    started_at,
    wait_alert,
    wait_serving,
)
from tools.site import REPO

pytestmark = pytest.mark.usefixtures("lab_vm", "serving")

# Relative to the workspace folder, as the person sees them in VS Code's explorer.
FILES = ("drill/top.txt", "drill/nested/deep/data.bin", "drill/notes.db")
MAKE_FILES = (
    "rm -rf ~/project/drill && mkdir -p ~/project/drill/nested/deep && cd ~/project/drill"
    " && echo 'the first draft' > top.txt"
    " && head -c 300000 /dev/urandom > nested/deep/data.bin"
    " && python3 -c \"import sqlite3; db = sqlite3.connect('notes.db');"
    " db.execute('create table notes (id integer primary key, body text)');"
    " db.executemany('insert into notes (body) values (?)', [('note %d' % i,) for i in range(500)]);"
    " db.commit()\""
)
SERVICE = f"{layout.BACKUP_UNIT}.service"
TIMINGS: dict[str, str] = {}  # what -> how long, for artifacts/backup-timings.txt
ORIGINAL: dict[str, str] = {}  # sha256 of FILES when they were backed up


def sums(site, user) -> dict[str, str]:
    folder = layout.workspace_dir(site, user)
    out = sh(f"cd {folder} && sha256sum {' '.join(FILES)} 2>/dev/null || true")
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def listing(site) -> str:
    """Every file under the workspaces and the archive: path, size, mtime, mode, owner.
    (VS Code's data is left out: code-server writes its logs there as it runs.)"""
    dirs = " ".join([*(layout.workspace_dir(site, u) for u in site.users), layout.archive_dir(site)])
    return sh(f"find {dirs} -printf '%p %s %T@ %m %U\\n' | sort | sha256sum")


# The group data of the last deploy that went through (the workspace tests leave an image
# update in place): the tools read the site from it, as an admin passes the deploy's own
# --group-data to them. Set by the module's fixture below.
APPLIED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def applied_group_data(deployer):
    APPLIED[:] = [f"--group-data={d}" for d in (deployer.applied_group_data or [])]


def tool(name: str, *args: str, label: str = "") -> subprocess.CompletedProcess:
    """tools.restore / tools.reset / tools.status, run as an admin runs them from the laptop."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", f"tools.{name}", *args, *APPLIED], cwd=REPO,
                            capture_output=True, text=True, timeout=900)
    TIMINGS[f"tools.{name} {' '.join(args)}{label}"] = f"{time.monotonic() - started:.1f} s"
    return result


def run_backup(label: str) -> tuple[bool, str]:
    """Start the backup service through systemd and wait for it (a oneshot): whether it
    succeeded, and its journal lines of this run."""
    cursor = sh("journalctl -n 0 --show-cursor | sed -n 's/^-- cursor: //p'").strip()
    started = time.monotonic()
    ok = sh(f"systemctl start {SERVICE} >/dev/null 2>&1; echo $?").strip() == "0"
    TIMINGS[label] = f"{time.monotonic() - started:.1f} s"
    journal = sh(f"journalctl -u {SERVICE} -o cat --no-pager --after-cursor '{cursor}'")
    return ok, journal


@pytest.fixture(scope="module", autouse=True)
def timings_report():
    yield
    lines = [f"{what:55} {value}" for what, value in TIMINGS.items()]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "backup-timings.txt").write_text("\n".join(lines) + "\n")
    sys.stderr.write("\n" + "\n".join(lines) + "\n")


def test_the_backup_service_backs_up_everyone_and_changes_nothing(lab_vm, site):
    alice, bob = person(site, "alice"), person(site, "bob")
    # What an earlier run of this drill left (VSCODE_LAB_REUSE): the globs below expect one.
    sh(f"rm -rf {layout.archive_dir(site)}/alice-*-before-re*")
    in_container(lab_vm, site, "alice", MAKE_FILES)
    ORIGINAL.update(sums(site, alice))
    assert sorted(ORIGINAL) == sorted(FILES), ORIGINAL
    before = {u.name: started_at(lab_vm, site, layout.container(u)) for u in site.users}
    files_before = listing(site)

    ok, journal = run_backup("backup (first, through systemd)")
    assert ok, journal
    assert sh(f"systemctl show -p Result --value {SERVICE}").strip() == "success"
    assert "backup complete" in journal, journal
    # Each person was paused (not restarted) while restic read their folder; the log says
    # for how long, which the README quotes.
    for user in site.users:
        line = next((x for x in journal.splitlines() if x.startswith(f"{user.name}: backed up")), "")
        assert "paused for" in line, journal
        TIMINGS[f"  {user.name}"] = line.partition(": ")[2]
        assert started_at(lab_vm, site, layout.container(user)) == before[user.name], (
            f"the backup restarted {user.name}")
    running = sh(layout.as_account(site, "podman ps --filter status=running --format '{{.Names}}'"))
    assert {layout.container(alice), layout.container(bob)} <= set(running.split()), running
    assert listing(site) == files_before, "the backup changed files under workspace_base"
    # One snapshot per person, tagged with their name (what tools.restore looks up).
    tags = sh(f"{layout.BACKUP_SCRIPT} restic snapshots --json | python3 -c"
              " \"import json, sys; print(sorted(t for s in json.load(sys.stdin) for t in s['tags']))\"")
    for user in site.users:
        assert layout.backup_tag(user) in tags, tags


def test_a_deleted_and_a_corrupted_file_come_back_by_path_while_the_workspace_runs(lab_vm, site):
    alice = person(site, "alice")
    assert ORIGINAL, "the backup test ran first"
    folder = layout.workspace_dir(site, alice)
    running_since = started_at(lab_vm, site, layout.container(alice))
    sh(f"cd {folder}/drill && rm top.txt && echo garbage > notes.db && rm -r nested")
    assert sorted(sums(site, alice)) == ["drill/notes.db"], "control: the damage is done"

    result = tool("restore", "alice", "--path", "drill/top.txt")
    assert result.returncode == 0, result.stderr
    result = tool("restore", "alice", "--path", "drill/notes.db")
    assert result.returncode == 0, result.stderr
    now = sums(site, alice)
    assert now["drill/top.txt"] == ORIGINAL["drill/top.txt"]
    assert now["drill/notes.db"] == ORIGINAL["drill/notes.db"]
    # The corrupted file was moved aside, not overwritten.
    aside = sh(f"cat {folder}/drill/notes.db.before-restore-*").strip()
    assert aside == "garbage"
    assert sh(f"stat -c %u {folder}/drill/top.txt").strip() == str(site.coder_host_uid)
    count = in_container(lab_vm, site, "alice", "python3 -c \"import sqlite3;"
                         " print(sqlite3.connect('/home/coder/project/drill/notes.db')"
                         ".execute('select count(*) from notes').fetchone()[0])\"").stdout
    assert count.strip() == "500"
    assert "drill/nested/deep/data.bin" not in now, "control: the folder is still gone"
    assert started_at(lab_vm, site, layout.container(alice)) == running_since, (
        "a path restore restarted the workspace")


def test_the_whole_workspace_comes_back_and_serves(lab_vm, site):
    alice, bob = person(site, "alice"), person(site, "bob")
    bob_since = started_at(lab_vm, site, layout.container(bob))
    listed = tool("restore", "alice", "--list")
    assert listed.returncode == 0 and listed.stdout.count("\n") >= 2, listed.stdout + listed.stderr

    result = tool("restore", "alice")
    assert result.returncode == 0, result.stderr
    assert sums(site, alice) == ORIGINAL, "not byte-identical after the whole restore"
    # What was there before (the corrupted file kept aside above) went to the archive.
    kept = sh(f"cat {layout.archive_dir(site)}/alice-*-before-restore/workspace/drill/"
              "notes.db.before-restore-*").strip()
    assert kept == "garbage", "the folder from before the restore is not in the archive"
    assert https_status(layout.hostname(site, alice)) == "200"
    assert started_at(lab_vm, site, layout.container(bob)) == bob_since, "bob was restarted"


def test_reset_lays_vs_code_fresh_and_keeps_the_work_and_the_password(lab_vm, site):
    alice, bob = person(site, "alice"), person(site, "bob")
    config = layout.config_dir(site, alice)
    sh(f"echo reset-me > {config}/reset-marker.txt")
    bob_since = started_at(lab_vm, site, layout.container(bob))
    alice_since = started_at(lab_vm, site, layout.container(alice))

    result = tool("reset", "alice")
    assert result.returncode == 0, result.stderr
    assert sh(f"cat {layout.archive_dir(site)}/alice-*-config-before-reset/reset-marker.txt"
              ).strip() == "reset-me"
    assert sh(f"test -e {config}/reset-marker.txt && echo there || echo gone").strip() == "gone"
    assert sums(site, alice) == ORIGINAL, "the reset touched the workspace"
    assert started_at(lab_vm, site, layout.container(alice)) != alice_since, "not recreated"
    assert started_at(lab_vm, site, layout.container(bob)) == bob_since, "bob was restarted"
    # VS Code is laid fresh: the opencode extension is installed again into the new data.
    listed = in_container(lab_vm, site, "alice", "code-server --list-extensions").stdout
    assert "sst-dev.opencode" in listed, listed
    status, jar, wrong = login(site, "alice", LAB_PASSWORDS["alice"], jar="/tmp/alice-reset-jar")
    assert status == "302" and "code-server-session" in jar and not wrong, (status, wrong)


# Nothing listens on the discard port. (A rest: or s3: server that does not answer is
# retried by restic for minutes; the script gives up on those after OPEN_TIMEOUT.)
UNREACHABLE = "sftp://nobody@127.0.0.1:9//nowhere"


def test_an_unreachable_repository_fails_loudly_and_changes_nothing(lab_vm, site):
    env = layout.BACKUP_ENV_FILE
    since = {u.name: started_at(lab_vm, site, layout.container(u)) for u in site.users}
    files_before = listing(site)
    posted = alerts_posted()
    sh(f"cp -p {env} /root/backup.env.good && sed -i"
       f" 's|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY={UNREACHABLE}|' {env}")
    try:
        ok, journal = run_backup("backup to an unreachable repository (fails)")
        # A restore that cannot complete leaves the workspace in place and running.
        restore = tool("restore", "alice", label=" (unreachable, fails)")
    finally:
        sh(f"mv /root/backup.env.good {env}")
    assert restore.returncode == 1 and "ERROR:" in restore.stderr, restore.stderr
    assert https_status(layout.hostname(site, person(site, "alice"))) == "200"
    assert sums(site, person(site, "alice")) == ORIGINAL
    left = [n for n in sh(f"ls -a {site.workspace_base}").split() if n.startswith(".restore-")]
    assert not left, f"a failed restore left {left}"
    assert not ok, journal
    # The alert hook posted it to the webhook (the lab's stand-in for ntfy or Slack).
    alert = wait_alert(SERVICE, posted)
    assert "failed" in alert["text"] and any("cannot be opened" in x for x in alert["log"]), alert
    assert sh(f"systemctl show -p Result --value {SERVICE}").strip() == "exit-code"
    assert "ERROR: the backup repository cannot be opened" in journal, journal
    status = sh(f"systemctl status --no-pager -n 20 {SERVICE} || true")
    assert "failed" in status and "cannot be opened" in status, status
    assert listing(site) == files_before, "a failed backup changed files under workspace_base"
    for user in site.users:
        assert started_at(lab_vm, site, layout.container(user)) == since[user.name]
    paused = sh(layout.as_account(site, "podman ps --filter status=paused --format '{{.Names}}'"))
    assert paused.strip() == "", f"left paused: {paused}"

    # The admin's one-line answer (tools.status) says so too, and fails.
    status = tool("status", label=" (a backup failed)")
    flagged = [line for line in status.stdout.splitlines() if line.startswith("!")]
    assert status.returncode == 1, status.stdout + status.stderr
    assert any("last backup" in line and "exit-code" in line for line in flagged), status.stdout
    assert any("failed units" in line and SERVICE in line for line in flagged), status.stdout
    # So does the daily check, which posts it (one alert, about the backup only).
    posted = alerts_posted()
    sh(f"systemctl start {layout.DAILY_CHECK_UNIT}.service")
    alert = wait_alert("backup", posted)
    assert "failed with result: exit-code" in alert["text"], alert
    assert alerts_posted() == posted + 1, "the daily check alerted more than the backup"

    # Control: with the repository back, the same service succeeds (an incremental run).
    ok, journal = run_backup("backup (second, incremental)")
    assert ok and "backup complete" in journal, journal
    # ... and the status is all well: everyone active, healthy, on the current image.
    status = tool("status", label=" (all well)")
    assert status.returncode == 0, status.stdout + status.stderr
    for user in site.users:
        row = next(line for line in status.stdout.splitlines() if line.split()[:1] == [user.name])
        assert "active" in row and "current" in row, row
        assert "healthy" in row or "starting" in row, row
    assert "success" in status.stdout and "days left" in status.stdout
    posted = alerts_posted()
    sh(f"systemctl start {layout.DAILY_CHECK_UNIT}.service")
    assert alerts_posted() == posted, "the daily check alerted on a healthy server"


def test_a_workspace_that_keeps_failing_alerts(lab_vm, site):
    """bob's unit fails to start again and again (his VS Code folder is gone, so podman
    cannot mount it): after five tries systemd gives up, and the alert reaches the webhook
    through the account's OnFailure= and root's spool. alice keeps running."""
    bob, alice = person(site, "bob"), person(site, "alice")
    unit, config = layout.unit(bob), layout.config_dir(site, bob)
    alice_since = started_at(lab_vm, site, layout.container(alice))
    posted = alerts_posted()
    started = time.monotonic()
    sh(f"mv {config} {config}.away")
    try:
        lab_vm.ssh(layout.as_account(site, f"systemctl --user restart {unit}"), check=False)
        alert = wait_alert(unit, posted, timeout=300)
        TIMINGS["a failing workspace: first try to alert"] = f"{time.monotonic() - started:.1f} s"
        state = sh(layout.as_account(site, f"systemctl --user is-failed {unit} || true")).strip()
    finally:
        sh(f"mv {config}.away {config}")
        sh(layout.as_account(site, f"systemctl --user reset-failed {unit}"))
        sh(layout.as_account(site, f"systemctl --user start {unit}"))
    assert state == "failed", state
    assert "the workspace unit" in alert["text"] and alert["log"], alert
    assert started_at(lab_vm, site, layout.container(alice)) == alice_since
    wait_serving(lab_vm, site)
