"""Alerts: the webhook is read like a secret and never dropped by accident; the real alert
script, run in a sandbox whose systemctl, journalctl and curl only log or replay, posts one
valid JSON message, whatever the failed unit's log lines or a check's text hold."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile

import pytest

from operations import layout
from operations.alerts import alert_env, script_values
from operations.model import ALERT_WEBHOOK_VARIABLE, ConfigError, load
from operations.provided import check_alerts_kept, read_alert_webhook
from tests.render import backup_unit, render, renew_unit
from tests.unit.data import with_changes

NASTY_LOG = 'Fatal: "quoted" \\ back\tslash and a bell \a in restic\'s words'


@pytest.fixture(autouse=True)
def no_secrets_file(monkeypatch):
    monkeypatch.setenv("VSCODE_SECRETS_FILE", "/nonexistent")


def test_the_webhook_is_a_url_or_none():
    assert read_alert_webhook({}) is None
    assert read_alert_webhook({ALERT_WEBHOOK_VARIABLE: "none"}) == "none"
    url = "https://ntfy.sh/vscode-alerts-x7"
    assert read_alert_webhook({ALERT_WEBHOOK_VARIABLE: url}) == url
    with pytest.raises(ConfigError) as err:
        read_alert_webhook({ALERT_WEBHOOK_VARIABLE: "ntfy.sh/topic"})
    assert err.value.problems[0].startswith(f"{ALERT_WEBHOOK_VARIABLE}:")


def test_alerts_on_the_server_are_never_turned_off_by_accident():
    with pytest.raises(ConfigError) as err:
        check_alerts_kept(None, on_host=True)
    assert f"{ALERT_WEBHOOK_VARIABLE}=none" in err.value.problems[0]
    check_alerts_kept("none", on_host=True)  # on purpose
    check_alerts_kept(None, on_host=False)  # nothing to lose


def run_alert(tmp_path, webhook: str | None, *args: str,
              journal: str | None = None) -> tuple[subprocess.CompletedProcess, str]:
    """journal: a journald socket that exists (the event mode then runs under systemd-cat,
    whose stub logs its arguments); by default there is none."""
    env_file = tmp_path / "alert.env"
    env_file.write_text(alert_env(webhook))
    values = script_values(load(with_changes())) | {
        "env_file": str(env_file), "spool_dir": str(tmp_path / "spool"),
        "journal_socket": journal or str(tmp_path / "no-journal")}
    script = render("usr/local/sbin/vscode-alert.j2", **values)
    (tmp_path / "vscode-alert").write_text(script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "log-line").write_text(NASTY_LOG + "\nsecond line\n")
    stubs = {
        "systemctl": "#!/bin/sh\necho exit-code\n",
        "journalctl": f"#!/bin/sh\ncat {tmp_path}/log-line\n",
        "hostname": "#!/bin/sh\necho vps.example.com\n",
        "curl": f'#!/bin/sh\nfor a; do last="$a"; done\necho "$last" > {tmp_path}/url\n'
                f"cat >> {tmp_path}/body\necho >> {tmp_path}/body\n",
        "systemd-cat": f'#!/bin/sh\necho "$*" >> {tmp_path}/systemd-cat\nshift 2\nexec "$@"\n',
    }
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    run = subprocess.run(["sh", str(tmp_path / "vscode-alert"), *(args or ["vscode-backup.service"])],
                         capture_output=True, text=True, timeout=30,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    body = (tmp_path / "body").read_text() if (tmp_path / "body").exists() else ""
    return run, body


def test_a_failed_unit_is_posted_as_one_valid_json_message(tmp_path):
    url = "https://hooks.example.com/services/T0/B0/x?a=1&b=2"
    run, body = run_alert(tmp_path, url)
    assert run.returncode == 0, run.stderr
    message = json.loads(body.strip())
    assert message["unit"] == "vscode-backup.service" and message["result"] == "exit-code"
    assert message["text"].startswith("vscode-backup.service failed on vps.example.com")
    assert message["log"] == [NASTY_LOG.replace("\a", ""), "second line"]
    assert (tmp_path / "url").read_text().strip() == url  # the & and ? survived the shell


def test_without_a_webhook_the_alert_stays_in_the_journal(tmp_path):
    run, body = run_alert(tmp_path, "none")
    assert run.returncode == 0 and body == ""  # nothing posted
    assert "ALERT: vscode-backup.service failed" in run.stdout
    assert "journal only" in run.stdout


def test_watched_units_name_the_alert_on_failure():
    site = load(with_changes())
    for text in (backup_unit(layout.BACKUP_UNIT, "service"),
                 backup_unit(layout.BACKUP_CHECK_UNIT, "service"), renew_unit(site, "service")):
        assert "OnFailure=vscode-alert@%n.service" in text.splitlines()


def test_a_failed_workspace_unit_in_the_spool_is_posted_once(tmp_path):
    """The account leaves unit names in the spool; only workspace units are posted, and
    each entry is consumed."""
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "code-server-alice.service").write_text("")
    (spool / "evil; rm -rf.service").write_text("")
    (spool / "sshd.service").write_text("")
    run, body = run_alert(tmp_path, "https://ntfy.sh/topic", "spool")
    assert run.returncode == 0, run.stderr
    messages = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert [m["unit"] for m in messages] == ["code-server-alice.service"]
    assert "the workspace unit code-server-alice.service failed" in messages[0]["text"]
    assert list(spool.iterdir()) == []


EVENT_TEXT = ('9 days left on the certificate for *.code.example.com (the check warns under 14);'
              ' its "renewal": systemctl status vscode-cert-renew.service\n'
              'second line \\ with a\ttab')


def test_an_event_is_posted_as_one_valid_json_message(tmp_path):
    """`vscode-alert event SUBJECT TEXT` (the daily check, the memory guard): the same
    message, SUBJECT as the unit, result warning, the text's first line in text, its lines
    in log."""
    run, body = run_alert(tmp_path, "https://ntfy.sh/topic", "event", "certificate", EVENT_TEXT)
    assert run.returncode == 0, run.stderr
    message = json.loads(body.strip())
    first, second = EVENT_TEXT.splitlines()
    assert message == {
        "text": f"certificate on vps.example.com (code.example.com): {first}",
        "title": "certificate on vps.example.com", "host": "vps.example.com",
        "unit": "certificate", "result": "warning", "log": [first, second]}
    assert f"ALERT: certificate on vps.example.com (code.example.com): {first}" in run.stdout
    assert not (tmp_path / "systemd-cat").exists()  # no journald here: stdout is all there is


def test_an_event_without_a_webhook_goes_to_the_journal_under_the_alert_tag(tmp_path):
    """Run from another unit's script (the daily check's, the memory guard's), the event's
    lines still carry the tag vscode-alert: it runs itself again under systemd-cat, once."""
    short = tempfile.mkdtemp(prefix="j")  # a socket's path has at most 107 characters
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(f"{short}/stdout")
        run, body = run_alert(tmp_path, "none", "event", "memory-guard", "alice: ended",
                              journal=f"{short}/stdout")
    finally:
        server.close()
        shutil.rmtree(short)
    assert run.returncode == 0, run.stderr
    assert body == ""  # nothing posted
    assert "ALERT: memory-guard on vps.example.com (code.example.com): alice: ended" in run.stdout
    assert "journal only" in run.stdout
    calls = (tmp_path / "systemd-cat").read_text().splitlines()
    assert calls == [f"-t vscode-alert /bin/sh {tmp_path}/vscode-alert event memory-guard alice: ended"]


@pytest.mark.parametrize("args", [("event",), ("event", "backup"), ("event", "", "text"),
                                  ("event", "a", "b", "c")])
def test_an_event_needs_a_subject_and_a_text(tmp_path, args):
    run, body = run_alert(tmp_path, "https://ntfy.sh/topic", *args)
    assert run.returncode == 2 and body == ""
    assert "usage:" in run.stderr
