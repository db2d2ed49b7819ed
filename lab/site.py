"""The lab's site: the inventory's default host (the VM) and the lab people's passwords.

The passwords exist only in the throw-away VM (group_data/lab.py holds their hashes); the
lab tests, the bench and `python3 -m lab deploy` log in with them.
"""

from __future__ import annotations

from tools.site import inventory_host, site_of

LAB_PASSWORDS = {
    "alice": "lab-alice-password",
    "bob": "lab-bob-password",
    "carol": "lab-carol-password",
}
CAROL_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$cVgtL+6y99OrhILE3NGWeQ$"
              "TGptzjfMbsVNIom+6Cx/hWVi9wd8WRBg9D4jveUhdt4")


def lab_host():
    return inventory_host("inventory.py")


def lab_site():
    return site_of(lab_host())


def lab_users() -> dict:
    """The users of group_data/lab.py, as plain data, for override files."""
    return dict(lab_host().data.get("users"))
