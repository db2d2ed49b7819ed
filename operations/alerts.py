"""Alerts: a failed timer job (a backup, a backup check, a certificate renewal) posts a JSON
message to the webhook in $VSCODE_ALERT_WEBHOOK, through vscode-alert@<unit>.service, which
those units name in OnFailure=. A workspace unit that systemd gives up on (its start limit)
names vscode-failed@<unit>.service of the account's user manager, which leaves the unit's
name in the account's alert spool; root's vscode-alert-spool.path posts it the same way.

The message: {"text": "...", "title": "...", "host": ..., "unit": ..., "result": ...,
"log": [last journal lines]}. Slack and Mattermost incoming webhooks, Matrix hookshot's
generic webhooks and Discord-compatible bridges that read "text" show it as is; an ntfy
topic URL shows the whole JSON as the message. Without a webhook ("none") the alert only
goes to the journal.

Checks post through the same script: `vscode-alert event SUBJECT TEXT` (the daily check of
operations/checks.py, the memory guard), with result "warning" and TEXT's lines as the log.
"""

from __future__ import annotations

import shlex

from pyinfra.api import deploy
from pyinfra.operations import systemd

from operations import ensure, layout
from operations.model import ALERT_WEBHOOK_VARIABLE, REPO, Site
from operations.snapshot import Snapshot

TEMPLATES = REPO / "templates"
EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
JOURNAL_SOCKET = "/run/systemd/journal/stdout"  # journald's: systemd-cat writes to it


def alerts_on_host(snap: Snapshot) -> bool:
    """Does the server post alerts to a webhook now (its root-only file is not empty)?"""
    have = snap.paths.get(layout.ALERT_ENV_FILE)
    return have is not None and have.sha256 not in ("", EMPTY_SHA)


def alert_env(webhook: str | None) -> str:
    if not webhook or webhook == "none":
        return ""
    return f"{ALERT_WEBHOOK_VARIABLE}={shlex.quote(webhook)}\n"


def script_values(site: Site) -> dict:
    """What templates/usr/local/sbin/vscode-alert.j2 needs."""
    return {"env_file": layout.ALERT_ENV_FILE, "variable": ALERT_WEBHOOK_VARIABLE,
            "domain": site.domain, "spool_dir": layout.alert_spool_dir(site),
            "spool_unit": layout.ALERT_SPOOL_UNIT, "unit_prefix": layout.UNIT_PREFIX,
            "account": site.service_account, "account_uid": site.service_account_uid,
            "journal_socket": JOURNAL_SOCKET}


def unit_values(site: Site) -> dict:
    return {"script": layout.ALERT_SCRIPT, "spool_dir": layout.alert_spool_dir(site)}


@deploy("Alerts")
def alerts(site: Site, snap: Snapshot, webhook: str | None) -> None:
    ensure.secret(snap, "Alert webhook (root-only)", layout.ALERT_ENV_FILE, alert_env(webhook),
                  layout.SECRETS_DIR)
    ensure.template(snap, "vscode-alert: post a failed unit to the webhook",
                    str(TEMPLATES / "usr/local/sbin/vscode-alert.j2"), layout.ALERT_SCRIPT,
                    mode="755", **script_values(site))
    account = site.service_account
    # The workspaces' side: their OnFailure= leaves the unit's name in the spool.
    ensure.directory(snap, "Alert spool of the account", layout.alert_spool_dir(site), "700",
                     account, account)
    for path in layout.account_config_dirs(site):
        ensure.directory(snap, path, path, "755", account, account)
    failed = ensure.template(snap, f"The account's {layout.FAILED_UNIT}.service",
                             str(TEMPLATES / "var/lib/codeserver/.config/systemd/user/"
                                 f"{layout.FAILED_UNIT}.service.j2"),
                             layout.failed_unit_file(site), **unit_values(site))
    units = [
        ensure.template(snap, name, str(TEMPLATES / f"etc/systemd/system/{name}.j2"),
                        f"{layout.SYSTEM_UNITS}/{name}", **unit_values(site))
        for name in (f"{layout.ALERT_UNIT}.service", f"{layout.ALERT_SPOOL_UNIT}.path",
                     f"{layout.ALERT_SPOOL_UNIT}.service")
    ]
    ensure.service(snap, "The alert spool is watched", f"{layout.ALERT_SPOOL_UNIT}.path",
                   running=True, enabled=True, daemon_reload=any(u.will_change for u in units))
    if failed.will_change and snap.account_ready:
        systemd.daemon_reload(name="Reload the account's systemd units (alert unit)",
                              user_mode=True, user_name=account)
