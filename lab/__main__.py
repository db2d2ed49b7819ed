"""python3 -m lab: build, boot and reach the lab VM, a Debian 13 "VPS" under QEMU."""

from __future__ import annotations

import argparse
import os
import sys
import time

from lab.common import CommandError, LabError, cache_dir, log
from operations import layout

try:
    from lab import vm
except LabError as e:  # a malformed VSCODE_LAB_* setting
    log(f"error: {e}")
    sys.exit(2)

EPILOG = f"""\
typical use:
  python3 -m lab up                      build the image if needed, boot, wait for SSH
  python3 -m lab ssh -- systemctl is-system-running
  ssh -F "$(python3 -m lab ssh-config)" lab
  python3 -m lab down

environment (read at start):
  VSCODE_LAB_CACHE       cache folder (now {cache_dir()})
  VSCODE_LAB_SSH_PORT    host port forwarded to the VM's 22 (default 2222)
  VSCODE_LAB_HTTP_PORT   host port forwarded to the VM's 80 (default 8080)
  VSCODE_LAB_HTTPS_PORT  host port forwarded to the VM's 443 (default 8443)
  VSCODE_LAB_MEMORY      VM memory in MiB (default 8192)

The VM runs under software emulation (TCG): building the image takes about 3 min,
booting about 1 min. Its serial console goes to <cache>/run/console.log.
"""


def cmd_build(args: argparse.Namespace) -> None:
    print(vm.build(force=args.force))


def cmd_up(args: argparse.Namespace) -> None:
    machine = vm.up(timeout=args.timeout)
    print(f"ssh -F {machine.ssh_config_path} lab")


def cmd_down(args: argparse.Namespace) -> None:
    vm.down()


def cmd_ssh(args: argparse.Namespace) -> None:
    if not vm.running():
        raise LabError("no lab VM running; start one with `python3 -m lab up`")
    remote = args.command[1:] if args.command[:1] == ["--"] else args.command
    argv = vm.ssh_argv(*remote)
    os.execvp(argv[0], argv)


def cmd_status(args: argparse.Namespace) -> None:
    machine = vm.current()
    if not machine:
        print("VM:     not running")
        built = sorted(done.parent.name for done in cache_dir().glob("vm-*/done"))
        print(f"images: {', '.join(built) or 'none built'}")
        return
    print(f"VM:     running, pid {machine.pid}, up {_duration(machine.uptime)}")
    print(f"image:  {machine.image_dir.name}")
    print(
        f"ports:  ssh 127.0.0.1:{machine.ssh_port}, http 127.0.0.1:{machine.http_port},"
        f" https 127.0.0.1:{machine.https_port}"
    )
    print(f"ssh:    ssh -F {machine.ssh_config_path} lab")


def cmd_ssh_config(args: argparse.Namespace) -> None:
    machine = vm.current()
    print(vm.write_ssh_config(machine.ssh_port if machine else vm.ssh_port))


def cmd_base_image(args: argparse.Namespace) -> None:
    # Imported here: the base image is another tool that `up` and friends don't need.
    from lab import base_image

    print(base_image.build(force=args.force))


def cmd_vsix(args: argparse.Namespace) -> None:
    from lab import vsix

    print(vsix.build())


def cmd_deploy(args: argparse.Namespace) -> None:
    """Everything a newcomer needs: lab parts, a VM, the real deploy, and where to go."""
    from lab import base_image, deploy, fixtures, vsix
    from tools.site import inventory_host, site_of

    vm.build()
    base_image.build()
    vsix.build()
    if not vm.running():
        vm.up()
    fixtures.prepare()
    log("deploying with pyinfra (a fresh VM takes 10-20 minutes under emulation)")
    result = deploy.run(log=cache_dir() / "run" / "last-deploy.log", echo=args.verbose,
                        progress=True)
    if result.returncode != 0:
        sys.stderr.write(result.output[-8000:])
        raise LabError(f"the deploy failed; full log: {cache_dir() / 'run' / 'last-deploy.log'}")
    log(f"deployed in {result.seconds:.0f} s, {len(result.changed)} operations changed something")
    site = site_of(inventory_host("inventory.py"))
    print(_access_help(site))


def _access_help(site) -> str:
    from lab import fixtures
    from lab.site import LAB_PASSWORDS

    https = vm.https_port
    roots = fixtures.pebble_roots(cache_dir() / "run" / "pebble-roots.pem")
    lines = ["", f"Workspaces in the lab VM (nginx on https://127.0.0.1:{https}, with a"
             f" certificate from the lab's ACME server; its root CAs: {roots}):", ""]
    for user in site.users:
        name = layout.hostname(site, user)
        lines += [
            f"  {user.name}: password {LAB_PASSWORDS.get(user.name, '(see group data)')!r}",
            f"    curl --cacert {roots} --resolve {name}:{https}:127.0.0.1"
            f" https://{name}:{https}/healthz",
            f"    browser: https://{name}:{https}/ with chromium"
            f" --host-resolver-rules='MAP *.{site.domain} 127.0.0.1', after trusting the"
            f" roots: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n vscode-lab -i {roots}",
        ]
    lines += ["", "  ssh into the VM: python3 -m lab ssh      stop it: python3 -m lab down", ""]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m lab",
        description="A throw-away Debian 13 VPS under QEMU for testing the deployment.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="build the VM image unless it is up to date")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.set_defaults(func=cmd_build)

    up = commands.add_parser("up", help="build if needed, boot the VM and wait for SSH")
    up.add_argument(
        "--timeout", type=float, default=vm.DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"how long to wait for SSH (default {vm.DEFAULT_TIMEOUT:.0f})",
    )
    up.set_defaults(func=cmd_up)

    commands.add_parser(
        "down", help="stop the VM and discard its disk changes (no VM: does nothing)"
    ).set_defaults(func=cmd_down)

    ssh = commands.add_parser(
        "ssh", help="ssh into the VM as root: `ssh` for a shell, `ssh -- CMD...` to run CMD"
    )
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="remote command (after --)")
    ssh.set_defaults(func=cmd_ssh)

    commands.add_parser(
        "status", help="show whether the VM runs, its pid, ports, image and uptime"
    ).set_defaults(func=cmd_status)

    commands.add_parser(
        "ssh-config", help="write and print the path of the ssh config with `Host lab`"
    ).set_defaults(func=cmd_ssh_config)

    base = commands.add_parser(
        "base-image", help="build the base container image (lab/base_image.py), print its path"
    )
    base.add_argument("--force", action="store_true", help="rebuild even if up to date")
    base.set_defaults(func=cmd_base_image)

    commands.add_parser(
        "vsix", help="pack the stand-in opencode extension (lab/extension), print its path"
    ).set_defaults(func=cmd_vsix)

    deploy = commands.add_parser(
        "deploy", help="build what is missing, boot the VM, deploy to it, print the workspaces"
    )
    deploy.add_argument("-v", "--verbose", action="store_true", help="show pyinfra's progress")
    deploy.set_defaults(func=cmd_deploy)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except CommandError:
        return 1  # run() has already shown the command and its output
    except LabError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
