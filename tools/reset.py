"""Reset a person's VS Code, keep their work: python3 -m tools.reset NAME

Their container is stopped and started again from the current image, and their VS Code data
(extensions, settings, editor state: <workspace_base>/NAME/config, ~/.local/share/code-server
in the container) moves to <workspace_base>/.archive/NAME-<time>-config-before-reset. VS Code
starts as on their first day. The workspace folder and the rest of the home (dotfiles, SSH
keys, the AI login) are untouched, and the password stays the same.
"""

from __future__ import annotations

import argparse
import sys

from operations import layout
from tools.server import Server, ToolError, say, stamp


def reset(server: Server, name: str) -> None:
    site, now = server.site, stamp()
    user = server.person(name)
    config = layout.config_dir(site, user)
    kept = f"{layout.archive_dir(site)}/{user.name}-{now}-config-before-reset"
    coder = site.coder_host_uid
    say(f"stopping {user.name}'s workspace; VS Code's data goes to {kept}")
    server.systemctl(user, "stop")
    # As the deploy makes it (operations/workspaces.py): coder's, 0750.
    server.run(f"install -d -m 700 {layout.archive_dir(site)} && mv {config} {kept}"
               f" && install -d -m 750 -o {coder} -g {coder} {config}")
    server.systemctl(user, "start", check=False)
    say("starting it again from the current image, waiting until it answers ...")
    if not server.wait_serving(user):
        raise ToolError(f"{user.name}'s workspace did not answer /healthz after the reset; "
                        f"their old VS Code data is in {kept}. Last log lines:\n"
                        f"{server.last_log(user)}")
    say(f"{user.name}'s VS Code is reset and serving; their files are untouched.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tools.reset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the person, as in group data")
    parser.add_argument("--inventory", default="inventory.py")
    parser.add_argument("--host", help="the inventory's host (default: its first)")
    args = parser.parse_args(argv)
    try:
        reset(Server(args.inventory, args.host), args.name)
    except ToolError as error:
        say(f"ERROR: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
