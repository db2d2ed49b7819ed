"""The lab's site: the inventory's default host (the VM) and the lab people's passwords.

The passwords exist only in the throw-away VM; the lab tests, the bench and
`python3 -m lab deploy` log in with them. Their hashes are secrets on a real server (never in
group data); the lab's deploys get them from the environment, as a real deploy would from
secrets.env (`lab_secrets()`).
"""

from __future__ import annotations

from lab.fixtures import ALERT_WEBHOOK
from operations.model import ALERT_WEBHOOK_VARIABLE, BACKUP_PASSWORD_VARIABLE, password_variable
from tools.site import inventory_host, site_of

LAB_PASSWORDS = {
    "alice": "lab-alice-password",
    "bob": "lab-bob-password",
    "carol": "lab-carol-password",
}
LAB_HASHES = {
    "alice": "$argon2id$v=19$m=65536,t=3,p=4$ba314BYZ9zZwoyJhvPHIfg$"
             "cYYJBOulfMs/cMW/xNlaCUoC4LYxaCja532AAQkf/co",
    "bob": "$argon2id$v=19$m=65536,t=3,p=4$/vyfDMQuRSJRmwoMensbbA$"
           "kPrVJtQik7/ozIiBEOu2L9C4jIs9JvS/IYmqKeX6vpQ",
    "carol": "$argon2id$v=19$m=65536,t=3,p=4$cVgtL+6y99OrhILE3NGWeQ$"
             "TGptzjfMbsVNIom+6Cx/hWVi9wd8WRBg9D4jveUhdt4",
}
# A password change for bob (the change scenarios check that it ends his old sessions).
BOB_NEW_PASSWORD = "lab-bob-new-password"
BOB_NEW_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$c36W1lmucNcRpdIdBrgRXw$"
                "tOddcvq3qr2dctV6W8Yj/A4ylff3pbrVMJlPd0M5wug")


# The lab's backup repository password (a real server's lives in secrets.env and elsewhere).
LAB_BACKUP_PASSWORD = "lab-backup-repository-password"


def lab_secrets(hashes: dict[str, str] = LAB_HASHES) -> dict[str, str]:
    """The secrets as the deploy reads them: VSCODE_PASSWORD_HASH_<NAME>=hash, the backup
    repository's password, and the alert webhook (the lab's receiver)."""
    return {**{password_variable(name): value for name, value in hashes.items()},
            BACKUP_PASSWORD_VARIABLE: LAB_BACKUP_PASSWORD, ALERT_WEBHOOK_VARIABLE: ALERT_WEBHOOK}


def lab_host():
    return inventory_host("inventory.py")


def lab_site():
    return site_of(lab_host())


def lab_users() -> dict:
    """The users of group_data/lab.py, as plain data, for override files."""
    return dict(lab_host().data.get("users"))
