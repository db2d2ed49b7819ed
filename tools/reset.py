"""Reset a person's VS Code, keep their work: python3 -m tools.reset NAME

Their container is stopped and started again from the current image, and their VS Code data
(extensions, settings, editor state: <workspace_base>/NAME/config, ~/.local/share/code-server
in the container) moves to <workspace_base>/.archive/NAME-<time>-config-before-reset. VS Code
starts as on their first day. The workspace folder and the rest of the home (dotfiles, SSH
keys, the AI login) are untouched, and the password stays the same.
"""

from __future__ import annotations

import sys

from operations import layout
from tools.server import Server, ToolError, run_tool, say, stamp


def reset(server: Server, name: str) -> None:
    site, now = server.site, stamp()
    user = server.person(name)
    config = layout.config_dir(site, user)
    kept = layout.archived(site, user, now, "config-before-reset")
    coder = site.coder_host_uid
    say(f"stopping {user.name}'s workspace; VS Code's data goes to {kept}")
    # A fresh config folder as the deploy makes it (operations/workspaces.py): coder's, 0750.
    if not server.while_stopped(user, f"install -d -m 700 {layout.archive_dir(site)}"
                                      f" && mv {config} {kept}"
                                      f" && install -d -m 750 -o {coder} -g {coder} {config}"):
        raise ToolError(f"{user.name}'s workspace did not answer /healthz after the reset; "
                        f"their old VS Code data is in {kept}. Last log lines:\n"
                        f"{server.last_log(user)}")
    say(f"{user.name}'s VS Code is reset and serving; their files are untouched.")


def main(argv: list[str] | None = None) -> int:
    return run_tool(__doc__, "tools.reset",
                    lambda parser: parser.add_argument("name", help="the person, as in group data"),
                    lambda server, args: reset(server, args.name), argv)


if __name__ == "__main__":
    sys.exit(main())
