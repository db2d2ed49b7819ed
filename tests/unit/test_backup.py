"""Backups: the secrets they need, the paths a restore accepts, and the real backup script
run in a sandbox whose restic, podman and runuser only log what they were asked (the lab
drill, tests/lab/test_45_backup.py, runs it for real)."""

from __future__ import annotations

import subprocess

import pytest

from operations import layout
from operations.layout import BACKUP_CHECK_UNIT, BACKUP_UNIT
from operations.model import BACKUP_PASSWORD_VARIABLE, ConfigError, load
from operations.provided import read_backup_secrets
from tests.render import backup_script, backup_unit
from tests.unit.data import with_changes


@pytest.fixture
def site():
    return load(with_changes())


def test_the_repository_password_is_required_and_named(site, monkeypatch):
    monkeypatch.setenv("VSCODE_SECRETS_FILE", "/nonexistent")
    with pytest.raises(ConfigError) as err:
        read_backup_secrets(site, {})
    assert err.value.problems[0].startswith(f"{BACKUP_PASSWORD_VARIABLE}:")
    assert "openssl rand" in err.value.problems[0]
    secrets = read_backup_secrets(site, {BACKUP_PASSWORD_VARIABLE: "pw", "OTHER": "x"})
    assert secrets == {"RESTIC_PASSWORD": "pw"}  # as restic names it; nothing else


def test_backend_credentials_are_required_when_listed(monkeypatch):
    monkeypatch.setenv("VSCODE_SECRETS_FILE", "/nonexistent")
    site = load(with_changes(backup_repository="s3:s3.amazonaws.com/b/v",
                             backup_credentials=["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]))
    with pytest.raises(ConfigError) as err:
        read_backup_secrets(site, {BACKUP_PASSWORD_VARIABLE: "pw", "AWS_ACCESS_KEY_ID": "id"})
    assert len(err.value.problems) == 1 and "AWS_SECRET_ACCESS_KEY" in err.value.problems[0]


@pytest.mark.parametrize("given,host", [
    ("notes/todo.md", "/var/lib/vscode/alice/workspace/notes/todo.md"),
    ("/home/coder/project/a.py", "/var/lib/vscode/alice/workspace/a.py"),
    ("/home/coder/.bashrc", "/var/lib/vscode/alice/home/.bashrc"),
    ("/home/coder/.local/share/code-server/User/settings.json",
     "/var/lib/vscode/alice/config/User/settings.json"),
])
def test_a_path_as_the_person_sees_it_maps_to_the_host(site, given, host):
    assert layout.host_path(site, site.users[0], given) == host


@pytest.mark.parametrize("given", ["../bob/workspace/x", "/etc/passwd", "/home/coderx/a", ""])
def test_paths_outside_the_persons_folders_are_refused(site, given):
    with pytest.raises(ValueError):
        layout.host_path(site, site.users[0], given)


def test_units_run_the_script_on_timers(site):
    service = backup_unit(BACKUP_UNIT, "service")
    assert "ExecStart=/usr/local/sbin/vscode-backup run" in service
    assert "Type=oneshot" in service and "Restart" not in service
    timer = backup_unit(BACKUP_UNIT, "timer")
    assert "OnCalendar=daily" in timer and "Persistent=true" in timer
    assert "RandomizedDelaySec=" in timer
    assert "ExecStart=/usr/local/sbin/vscode-backup check" in backup_unit(BACKUP_CHECK_UNIT,
                                                                          "service")
    assert "OnCalendar=weekly" in backup_unit(BACKUP_CHECK_UNIT, "timer")


@pytest.mark.parametrize("unit,broken", [(BACKUP_UNIT, False), (BACKUP_CHECK_UNIT, False),
                                         (BACKUP_UNIT, True)], ids=["backup", "check", "control"])
def test_units_pass_systemd_analyze_verify(tmp_path, unit, broken):
    """systemd's own parser: no error and no key it ignores; the control misspells one."""
    for kind in ("service", "timer"):
        text = backup_unit(unit, kind)
        if broken and kind == "timer":
            text = text.replace("Persistent=", "Persistant=")
        (tmp_path / f"{unit}.{kind}").write_text(text)
    (tmp_path / "vscode-backup").write_text("#!/bin/sh\n")
    (tmp_path / "vscode-backup").chmod(0o755)
    service = (tmp_path / f"{unit}.service").read_text().replace(
        "/usr/local/sbin/vscode-backup", str(tmp_path / "vscode-backup"))
    (tmp_path / f"{unit}.service").write_text(service)
    run = subprocess.run(["systemd-analyze", "verify", "--man=no",
                          str(tmp_path / f"{unit}.service"), str(tmp_path / f"{unit}.timer")],
                         capture_output=True, text=True)
    clean = run.returncode == 0 and "ignoring" not in run.stderr
    assert clean != broken, run.stderr


# -- the script, in a sandbox ------------------------------------------------------------
STUBS = {
    # restic: logs; `cat config` fails when told to; a person's backup fails when told to.
    "restic": """#!/bin/sh
echo "restic $*" >> "$LOG"
case "$*" in
    "cat config") [ -z "$FAIL_OPEN" ] || { echo "Fatal: unable to open repository" >&2; exit 1; } ;;
    "snapshots --json --tag first-pass")
        if [ -n "$NO_FIRST" ]; then echo '[]'; else echo '[{"id":"aa11","short_id":"aa"},{"id":"bb22"}]'; fi ;;
    *"person=$FAIL_PERSON "*|*"person=$FAIL_PERSON") exit 1 ;;
esac
""",
    "podman": """#!/bin/sh
echo "podman $*" >> "$LOG"
[ "$1" = ps ] && echo 0123abcd
exit 0
""",
    # setpriv --reuid=... --regid=... --init-groups env ... podman ...: run the env command.
    "setpriv": """#!/bin/sh
while [ "$1" != "env" ]; do shift; done
exec "$@"
""",
}


def run_script(site, tmp_path, **env) -> tuple[int, list[str], str]:
    (tmp_path / "backup.env").write_text("RESTIC_REPOSITORY=/srv/restic\nRESTIC_PASSWORD=x\n")
    script = backup_script(site, env_file=str(tmp_path / "backup.env"),
                           cache_dir=str(tmp_path / "cache"),
                           archive_dir=str(tmp_path / "archive"),
                           people=[(u.name, layout.container(u), str(tmp_path / u.name))
                                   for u in site.users])
    (tmp_path / "vscode-backup").write_text(script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in STUBS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    for user in site.users:
        (tmp_path / user.name).mkdir(exist_ok=True)
    log = tmp_path / "log"
    log.write_text("")
    run = subprocess.run(["sh", str(tmp_path / "vscode-backup"), "run"], capture_output=True,
                         text=True, timeout=60,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(log), **env})
    return run.returncode, log.read_text().splitlines(), run.stdout + run.stderr


def test_each_person_is_paused_only_for_the_second_pass_and_resumed(site, tmp_path):
    code, calls, out = run_script(site, tmp_path)
    assert code == 0, out
    steps = [c for c in calls if not c.startswith(("podman ps", "restic snapshots"))]
    expected = ["restic cat config"]
    for user in site.users:
        folder = str(tmp_path / user.name)
        expected += [f"restic backup --quiet --one-file-system --tag {layout.WARMUP_TAG} {folder}",
                     f"podman pause {layout.container(user)}",
                     f"restic backup --quiet --one-file-system --tag {layout.BACKUP_TAG}"
                     f" --tag {layout.backup_tag(user)} {folder}",
                     f"podman unpause {layout.container(user)}"]
    assert steps[:len(expected)] == expected, steps
    assert any(c.startswith("restic forget --quiet --prune --tag vscode --group-by host,tags"
                            " --keep-daily 7 --keep-weekly 4 --keep-monthly 6") for c in steps)
    assert "restic forget --quiet aa11 bb22" in steps, "the first passes' snapshots stay"
    assert "alice: backed up in" in out and "paused for" in out and "backup complete" in out


def test_a_failing_person_is_resumed_and_the_others_still_backed_up(site, tmp_path):
    code, calls, out = run_script(site, tmp_path, FAIL_PERSON="alice")
    assert code == 1, out
    assert "ERROR: alice: restic backup failed" in out and "failed: alice" in out
    assert calls.count("podman pause code-server-alice") == 1
    assert calls.count("podman unpause code-server-alice") == 1
    assert any("person=bob" in c for c in calls), "bob was not backed up"


def test_an_unopenable_repository_pauses_no_one(site, tmp_path):
    code, calls, out = run_script(site, tmp_path, FAIL_OPEN="1")
    assert code == 1
    assert "ERROR: the backup repository cannot be opened" in out
    assert calls == ["restic cat config"], calls


def test_no_first_pass_left_is_no_failure(site, tmp_path):
    code, calls, out = run_script(site, tmp_path, NO_FIRST="1")
    assert code == 0, out
    assert not [c for c in calls if c.startswith("restic forget --quiet aa")]
