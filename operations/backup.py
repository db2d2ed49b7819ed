"""Backups: restic to the repository in data, a daily timer, a weekly check.

vscode-backup.timer runs /usr/local/sbin/vscode-backup daily: each person's folder (home,
workspace, VS Code data), once while they work and once more, reading only what changed,
with their container paused, so SQLite files are consistent and the pause is short; then
the archive of removed people, then `forget --prune` by the retention keys.
vscode-backup-check.timer reads a subset of the data weekly. The deploy creates the
repository once (per repository URL); restores and resets are tools.restore and tools.reset.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from pyinfra.api import deploy
from pyinfra.operations import server

from operations import ensure, layout
from operations.layout import BACKUP_CHECK_UNIT, BACKUP_SCRIPT, BACKUP_UNIT, SYSTEM_UNITS
from operations.model import REPO, Site
from operations.snapshot import Snapshot

TEMPLATES = REPO / "templates"
CHECK_SUBSET = "5%"  # of the repository's data, read back by the weekly check
OPEN_TIMEOUT = 300  # s: some backends retry an unreachable server for 15 minutes
PAUSE_LIMIT = 900  # s: nobody stays frozen longer, even if the repository stalls


def backup_env(site: Site, secrets: Mapping[str, str]) -> str:
    """The root-only environment restic runs with: repository, password, credentials."""
    values = {"RESTIC_REPOSITORY": site.backup_repository, **secrets}
    return "".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(values.items()))


def retention_args(site: Site) -> str:
    return " ".join(f"--keep-{period} {getattr(site, f'backup_keep_{period}')}"
                    for period in ("daily", "weekly", "monthly"))


def script_values(site: Site) -> dict:
    """What templates/usr/local/sbin/vscode-backup.j2 needs."""
    return {
        "env_file": layout.BACKUP_ENV_FILE, "cache_dir": layout.BACKUP_CACHE,
        "as_account": layout.as_account_quietly(site), "backup_unit": BACKUP_UNIT,
        "check_unit": BACKUP_CHECK_UNIT, "check_subset": CHECK_SUBSET,
        "people": [(u.name, layout.container(u), layout.user_dir(site, u)) for u in site.users],
        "archive_dir": layout.archive_dir(site), "backup_tag": layout.BACKUP_TAG,
        "archive_tag": layout.ARCHIVE_TAG, "person_tag_prefix": layout.PERSON_TAG_PREFIX,
        "warmup_tag": layout.WARMUP_TAG, "open_timeout": OPEN_TIMEOUT,
        "pause_limit": PAUSE_LIMIT,
        "keep": retention_args(site),
    }


def unit_values(unit: str) -> dict:
    return {"unit": unit, "script": BACKUP_SCRIPT, "check_subset": CHECK_SUBSET,
            "on_failure": layout.on_failure()}


@deploy("Backups")
def backup(site: Site, snap: Snapshot, secrets: Mapping[str, str]) -> None:
    ensure.secret(snap, "Backup repository, password and credentials (root-only)",
                  layout.BACKUP_ENV_FILE, backup_env(site, secrets), layout.SECRETS_DIR)
    ensure.directory(snap, "restic's cache (root-only)", layout.BACKUP_CACHE, "700")
    ensure.directory(snap, "Backup state (root-only)", layout.BACKUP_STATE, "700")
    ensure.template(snap, "vscode-backup: run / check / init",
                    str(TEMPLATES / "usr/local/sbin/vscode-backup.j2"), BACKUP_SCRIPT,
                    mode="755", **script_values(site))
    marker = layout.repository_marker(site)
    if not snap.exists(marker):
        # Once per repository: a wrong password or an unreachable repository stops the
        # deploy here, loudly, before the first nightly backup would fail.
        server.shell(name="Create the backup repository unless it exists (restic init)",
                     commands=[f"{BACKUP_SCRIPT} init && touch {marker}"])
    for unit in (BACKUP_UNIT, BACKUP_CHECK_UNIT):
        files = [
            ensure.template(snap, f"{unit}.{kind}",
                            str(TEMPLATES / f"etc/systemd/system/{unit}.{kind}.j2"),
                            f"{SYSTEM_UNITS}/{unit}.{kind}", **unit_values(unit))
            for kind in ("service", "timer")
        ]
        ensure.service(snap, f"{unit}.timer runs and starts at boot", f"{unit}.timer",
                       running=True, enabled=True,
                       daemon_reload=any(f.will_change for f in files))
