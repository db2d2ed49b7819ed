"""One server as the laptop-side maintenance tools (tools.restore, tools.reset) reach it:
the site from the same inventory and group data the deploy reads, commands over SSH as root
(through `sudo -n` for a non-root login), and the person's unit as the service account."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable

from operations import layout
from operations.model import ConfigError, User
from tools.site import inventory_host, site_of, testinfra_host


class ToolError(Exception):
    """A step failed; the message says what, and what state the person's folder is in."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


class Server:
    def __init__(self, inventory: str, name: str | None = None,
                 group_data: list[str] | None = None):
        self.host = inventory_host(inventory, name, group_data)
        try:
            self.site = site_of(self.host)
        except ConfigError as error:
            raise ToolError(str(error)) from None
        self.remote = testinfra_host(self.host)
        self.sudo = (self.host.data.get("ssh_user") or "root") != "root"

    def run(self, command: str, check: bool = True):
        """`command` in a root shell on the server; raises ToolError if it fails and `check`."""
        wrapped = f"sudo -n sh -c {shlex.quote(command)}" if self.sudo else command
        result = self.remote.run(wrapped)
        if check and result.rc != 0:
            raise ToolError(f"failed on the server (exit {result.rc}): {command}\n"
                            f"{(result.stderr or result.stdout).strip()}")
        return result

    def person(self, name: str) -> User:
        for user in self.site.users:
            if user.name == name:
                return user
        raise ToolError(f"{name!r} is not a person in this site's group data "
                        f"({', '.join(u.name for u in self.site.users)})")

    def exists(self, path: str) -> bool:
        return self.run(f"test -e {shlex.quote(path)}", check=False).rc == 0

    def systemctl(self, user: User, verb: str, check: bool = True):
        return self.run(layout.as_account(self.site, f"systemctl --user {verb} {layout.unit(user)}"),
                        check=check)

    def wait_serving(self, user: User, timeout: int = 300) -> bool:
        """True once the person's code-server answers /healthz on its loopback port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run(f"curl -fsS -o /dev/null --max-time 5 http://127.0.0.1:{user.port}/healthz",
                        check=False).rc == 0:
                return True
            time.sleep(3)
        return False

    def while_stopped(self, user: User, commands: str) -> bool:
        """Stop the person's workspace, run `commands` (root shell), start it again: whether
        it answers /healthz afterwards."""
        self.systemctl(user, "stop")
        self.run(commands)
        self.systemctl(user, "start", check=False)
        say(f"starting {user.name}'s workspace again, waiting until it answers ...")
        return self.wait_serving(user)

    def last_log(self, user: User, lines: int = 20) -> str:
        return self.run(f"journalctl --no-pager -o cat -n {lines}"
                        f" _SYSTEMD_USER_UNIT={layout.unit(user)}", check=False).stdout


def run_tool(doc: str, prog: str, add_arguments: Callable[[argparse.ArgumentParser], None],
             action: Callable[[Server, argparse.Namespace], int | None],
             argv: list[str] | None = None, error_status: int = 1) -> int:
    """A tool's command line: its own arguments plus --inventory and --host; `action` runs
    against the server and returns the exit status (None: 0). A ToolError is printed as one
    ERROR line and exits with `error_status`."""
    parser = argparse.ArgumentParser(prog=f"python3 -m {prog}", description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--inventory", default="inventory.py")
    parser.add_argument("--host", help="the inventory's host (default: its first)")
    parser.add_argument("--group-data", action="append", metavar="DIR",
                        help="more group data, as the deploy's pyinfra --group-data DIR")
    args = parser.parse_args(argv)
    try:
        return action(Server(args.inventory, args.host, args.group_data), args) or 0
    except ToolError as error:
        say(f"ERROR: {error}")
        return error_status
