"""Add a person, or change their password: make a strong password and show it once.

    python3 -m tools.adduser NAME [--port PORT] [--inventory inventory.py] [--print]

The password is shown here and nowhere else. Its argon2 hash is a secret (code-server takes
the hash itself as the session cookie), so it goes into secrets.env (or $VSCODE_SECRETS_FILE)
as VSCODE_PASSWORD_HASH_<NAME>='...', replacing an older line for the same person; the file
is created readable by you only. --print prints that line instead, for a sops-encrypted file
or a secrets manager. For a new person it prints the entry for `users` in group data.
Deploy afterwards; a new password ends the person's old sessions.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

from argon2 import PasswordHasher

from operations.model import PORT_MIN, RESERVED_NAMES, USER_NAME_RE, password_variable
from operations.provided import DEFAULT_FILE

# No look-alikes (0/O, 1/l/I): people copy these from chat messages and paper.
ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def make_password(groups: int = 5, size: int = 4) -> str:
    """e.g. 'k7Qm-Zt3x-...': 20 random characters, about 117 bits."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(size)) for _ in range(groups))


def known_users(inventory: str) -> dict:
    """The `users` of the inventory's first host, or {} for a fresh repo."""
    try:
        from tools.site import inventory_host

        return dict(inventory_host(inventory).data.get("users") or {})
    except Exception:  # noqa: BLE001 - a fresh repo without users or lab is fine
        return {}


def next_port(users: dict) -> int:
    """One above the highest port in use, or 8081."""
    ports = [u.get("port") for u in users.values() if isinstance(u, dict)]
    return max([p for p in ports if isinstance(p, int)], default=PORT_MIN + 7056) + 1


def store_hash(path: Path, variable: str, value: str) -> None:
    """Set VARIABLE='value' in the env file, replacing its old line; the file stays 0600."""
    old = path.read_text() if path.exists() else ""
    kept = [line for line in old.splitlines()
            if not re.match(rf"^\s*(export\s+)?{variable}=", line)]
    text = "\n".join([*kept, f"{variable}='{value}'"]) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="lowercase name; becomes https://NAME.<domain>")
    parser.add_argument("--port", type=int, help="loopback port (default: next free)")
    parser.add_argument("--inventory", default="inventory.py")
    parser.add_argument("--print", action="store_true",
                        help="print the secrets line instead of writing the secrets file")
    args = parser.parse_args(argv)

    if not USER_NAME_RE.fullmatch(args.name) or args.name in RESERVED_NAMES:
        print(f"error: {args.name!r} is not a usable name: use 1-32 lowercase letters, digits"
              " and inner hyphens, starting with a letter, and not a reserved name like www",
              file=sys.stderr)
        return 2
    password = make_password()
    variable, the_hash = password_variable(args.name), PasswordHasher().hash(password)
    users = known_users(args.inventory)
    print(f"Password for {args.name} (shown once; give it to them privately):\n\n    {password}\n",
          file=sys.stderr)
    if args.print:
        print("Put this line into your secrets file (it is a secret, never group data):\n",
              file=sys.stderr)
        print(f"{variable}='{the_hash}'")
    else:
        path = Path(os.environ.get("VSCODE_SECRETS_FILE") or DEFAULT_FILE)
        store_hash(path, variable, the_hash)
        print(f"The hash is in {path} as {variable} (readable by you only).", file=sys.stderr)
    if args.name not in users:
        port = args.port or next_port(users)
        print("\nAdd this line to `users` in group_data/all.py:\n", file=sys.stderr)
        print(f'    "{args.name}": {{"port": {port}}},')
    print("\nThen deploy; a new password ends the old sessions.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
