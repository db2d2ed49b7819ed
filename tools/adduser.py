"""Add a person: make a strong password, print it once, and print the group-data entry.

    python3 -m tools.adduser NAME [--port PORT] [--inventory inventory.py]

Only the argon2 hash goes into group data; the password is shown here and nowhere else.
"""

from __future__ import annotations

import argparse
import secrets
import sys

from argon2 import PasswordHasher

from operations.model import PORT_MIN, RESERVED_NAMES, USER_NAME_RE

# No look-alikes (0/O, 1/l/I): people copy these from chat messages and paper.
ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def make_password(groups: int = 5, size: int = 4) -> str:
    """e.g. 'k7Qm-Zt3x-...': 20 random characters, about 117 bits."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(size)) for _ in range(groups))


def next_port(inventory: str) -> int:
    """One above the highest port in use in the inventory's data, or 8081."""
    try:
        from tools.site import inventory_host

        users = inventory_host(inventory).data.get("users") or {}
    except Exception:  # noqa: BLE001 - a fresh repo without users or lab is fine
        users = {}
    ports = [u.get("port") for u in users.values() if isinstance(u, dict)]
    return max([p for p in ports if isinstance(p, int)], default=PORT_MIN + 7056) + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="lowercase name; becomes https://NAME.<domain>")
    parser.add_argument("--port", type=int, help="loopback port (default: next free)")
    parser.add_argument("--inventory", default="inventory.py")
    args = parser.parse_args(argv)

    if not USER_NAME_RE.match(args.name) or args.name in RESERVED_NAMES:
        print(f"error: {args.name!r} is not a usable name: use 1-32 lowercase letters, digits"
              " and inner hyphens, starting with a letter, and not a reserved name like www",
              file=sys.stderr)
        return 2
    password = make_password()
    port = args.port or next_port(args.inventory)
    print(f"Password for {args.name} (shown once; give it to them privately):\n\n    {password}\n",
          file=sys.stderr)
    print("Add this line to `users` in group_data/all.py, then deploy:\n", file=sys.stderr)
    print(f'    "{args.name}": {{"port": {port}, '
          f'"password_hash": "{PasswordHasher().hash(password)}"}},')
    return 0


if __name__ == "__main__":
    sys.exit(main())
