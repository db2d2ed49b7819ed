"""The daily check: vscode-daily-check.timer runs /usr/local/sbin/vscode-daily-check, which
posts one alert (`vscode-alert event SUBJECT TEXT`) for each of: fewer than CERT_WARN_DAYS
days left on the certificate (or none readable), a filesystem that holds the workspaces, the
account's home or / at DISK_WARN_PERCENT full, and a last backup that failed or is
BACKUP_WARN_HOURS old. tools.status flags the same things with the same numbers.
"""

from __future__ import annotations

from pyinfra.api import deploy

from operations import ensure, layout
from operations.layout import DAILY_CHECK_SCRIPT, DAILY_CHECK_UNIT, SYSTEM_UNITS
from operations.model import (
    BACKUP_WARN_HOURS,
    CERT_WARN_DAYS,
    DISK_WARN_PERCENT,
    REPO,
    Site,
)
from operations.snapshot import Snapshot

TEMPLATES = REPO / "templates"
UPTIME_FILE = "/proc/uptime"


def certificate_hint(site: Site) -> str:
    """What to look at when the certificate is short of days."""
    if site.tls_mode == "acme":
        return f"its renewal: systemctl status {layout.RENEW_UNIT}.service {layout.RENEW_UNIT}.timer"
    return ("it is the certificate you brought (tls_certificate): put a renewed one there and"
            " reload nginx")


def script_values(site: Site) -> dict:
    """What templates/usr/local/sbin/vscode-daily-check.j2 needs."""
    return {
        "unit": DAILY_CHECK_UNIT, "alert_script": layout.ALERT_SCRIPT,
        # tunnel mode: no certificate to check
        "certificate": layout.certificate_file(site) if site.uses_proxy else "",
        "certificate_names": " and ".join(site.certificate_names),
        "certificate_hint": certificate_hint(site), "cert_warn_days": CERT_WARN_DAYS,
        "disk_paths": list(dict.fromkeys((site.workspace_base, layout.account_home(site), "/"))),
        "disk_warn_percent": DISK_WARN_PERCENT,
        "backup_unit": f"{layout.BACKUP_UNIT}.service",
        "backup_timer": f"{layout.BACKUP_UNIT}.timer",
        "backup_warn_hours": BACKUP_WARN_HOURS, "uptime_file": UPTIME_FILE,
    }


def unit_values() -> dict:
    return {"script": DAILY_CHECK_SCRIPT, "on_failure": layout.on_failure()}


@deploy("Daily check")
def daily_check(site: Site, snap: Snapshot) -> None:
    ensure.template(snap, "vscode-daily-check: certificate, disks, last backup",
                    str(TEMPLATES / "usr/local/sbin/vscode-daily-check.j2"), DAILY_CHECK_SCRIPT,
                    mode="755", **script_values(site))
    files = [
        ensure.template(snap, f"{DAILY_CHECK_UNIT}.{kind}",
                        str(TEMPLATES / f"etc/systemd/system/{DAILY_CHECK_UNIT}.{kind}.j2"),
                        f"{SYSTEM_UNITS}/{DAILY_CHECK_UNIT}.{kind}", **unit_values())
        for kind in ("service", "timer")
    ]
    ensure.service(snap, f"{DAILY_CHECK_UNIT}.timer runs and starts at boot",
                   f"{DAILY_CHECK_UNIT}.timer", running=True, enabled=True,
                   daemon_reload=any(f.will_change for f in files))
