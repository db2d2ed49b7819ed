"""Helpers of the lab tests: commands in the VM, HTTPS as a browser sees it, deploy checks."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from lab import fixtures, vm
from operations import layout
from tools.site import REPO, curl_https

ARTIFACTS = REPO / "artifacts"


def sh(command: str) -> str:
    """Run a shell command in the lab VM as root; its stdout (a failure raises)."""
    return vm.ssh(command).stdout


def https_status(hostname: str, path: str = "/healthz") -> str:
    """The HTTP status nginx gives a browser at https://HOSTNAME/PATH, trusting pebble."""
    return vm.ssh(curl_https(hostname, path, fixtures.PEBBLE_ROOTS,
                             "-o /dev/null -w '%{http_code}'")).stdout.strip()


def login(site, user: str, password: str, jar: str = "/tmp/jar",
          source: str = "127.0.0.1") -> tuple[str, str, bool]:
    """POST the login form through nginx from the VM's address `source`.

    Returns (HTTP status, the cookie jar's text, whether the page said the password was
    wrong)."""
    hostname = f"{user}.{site.domain}"
    out = sh(f"rm -f {jar}; "
             + curl_https(hostname, "/login", fixtures.PEBBLE_ROOTS,
                          f"--interface {source} -o /tmp/login-body -c {jar} -w '%{{http_code}}'"
                          f" --data-urlencode 'password={password}'")
             + f"; echo; cat {jar}; echo; grep -c 'Incorrect password' /tmp/login-body || true")
    status, _, rest = out.partition("\n")
    jar_text, _, wrong = rest.rstrip().rpartition("\n")
    return status.strip(), jar_text, wrong.strip() not in ("", "0")


def logged_in(site, user: str, jar: str = "/tmp/jar") -> bool:
    """Does the workspace let in a browser holding the cookies in `jar`? Its start page
    redirects either way: to the login page without a session, to the folder with one."""
    target = sh(curl_https(f"{user}.{site.domain}", "/", fixtures.PEBBLE_ROOTS,
                           f"-b {jar} -o /dev/null -w '%{{http_code}} %{{redirect_url}}'")).strip()
    assert target.startswith("302 "), target
    return "/login" not in target


def run_host_suite(*extra_args: str) -> subprocess.CompletedProcess:
    """The user-facing testinfra suite, exactly as README documents it, trusting pebble."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/host",
         "--tls-ca", fixtures.PEBBLE_ROOTS, *extra_args],
        cwd=REPO, capture_output=True, text=True,
    )


def person(site, name: str):
    """The lab site's User called `name`."""
    return next(u for u in site.users if u.name == name)


def main_pid(site, container: str) -> str:
    return sh(layout.as_account(site, f"podman inspect --format '{{{{.State.Pid}}}}' {container}")).strip()


def cgroup_of(pid: str) -> str:
    """The cgroup folder of a process: a container's own, for its main process."""
    return "/sys/fs/cgroup" + sh(f"cut -d: -f3 /proc/{pid}/cgroup").strip()


def started_at(lab_vm, site, container: str) -> str:
    return sh(layout.as_account(site, f"podman inspect --format '{{{{.State.StartedAt}}}}' {container}")).strip()


def assert_ok(result):
    assert result.returncode == 0, f"deploy failed ({result.returncode}):\n{result.output[-6000:]}"


def occurrences(source: str, pattern: str, fixed: bool = False) -> int:
    """Lines of the output of `source` (a command in the VM) that match `pattern` (a grep
    regex, or a fixed string). A failing `source` raises, instead of reading as zero."""
    grep = "grep -cF" if fixed else "grep -c"
    out = vm.ssh(f"{{ {source}; }} > /tmp/occurrences.out || exit 97;"
                 f" {grep} -- {pattern} /tmp/occurrences.out; [ $? -le 1 ]").stdout
    return int(out.strip())


def wait_serving(lab_vm, site, timeout: float = 300) -> None:
    """Until every workspace answers /healthz through nginx (code-server starts slowly here)."""
    deadline = time.monotonic() + timeout
    while True:
        codes = [https_status(layout.hostname(site, u)) for u in site.users]
        if all(code == "200" for code in codes):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"workspaces not serving after {timeout}s: {codes}")
        time.sleep(3)


def in_container(lab_vm, site, user: str, command: str, check: bool = True):
    """Run `command` as coder inside the user's container (through podman exec)."""
    quoted = command.replace("'", "'\\''")
    container = layout.container(person(site, user))
    return lab_vm.ssh(layout.as_account(site, f"podman exec {container} sh -lc '{quoted}'"),
                      check=check)


def alerts_posted() -> int:
    """How many alerts the lab's webhook receiver has got so far."""
    return int(sh(f"cat {fixtures.ALERTS_FILE} 2>/dev/null | wc -l").strip())


def wait_alert(unit: str, after: int, timeout: float = 90) -> dict:
    """The first alert about `unit` that the receiver got after its first `after` ones."""
    deadline = time.monotonic() + timeout
    while True:
        lines = sh(f"tail -n +{after + 1} {fixtures.ALERTS_FILE} 2>/dev/null || true")
        for line in lines.splitlines():
            message = json.loads(line)
            if message.get("unit") == unit:
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no alert about {unit} within {timeout}s; got: {lines!r}")
        time.sleep(2)
