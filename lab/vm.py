"""The lab VM: a Debian 13 "VPS" under QEMU software emulation, reached over SSH.

Image: build-vm-image.sh writes it to cache_dir()/vm-<hash>/ (disk.qcow2, vmlinuz, initrd.img,
and a `done` marker), where the hash covers that script and the ssh keys baked into the image.

Run state lives in cache_dir()/run/: a throw-away overlay disk, qemu.pid, console.log and
ssh_config. The pid file is the only state: ports and image of a running VM are read back
from the QEMU command line, so they are right even if the environment changed since `up`.

Settings are read from the environment when this module is imported:
VSCODE_LAB_CACHE, VSCODE_LAB_SSH_PORT (2222), VSCODE_LAB_HTTP_PORT (8080),
VSCODE_LAB_HTTPS_PORT (8443), VSCODE_LAB_MEMORY (MiB, 8192).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lab.common import CommandError, LabError, apt_mirrors, cache_dir, inputs_hash, log, run

BUILD_SCRIPT = Path(__file__).with_name("build-vm-image.sh")
DEFAULT_TIMEOUT = 300.0
# A reboot is a shutdown plus a full boot; under TCG on a busy host that took up to 190 s.
REBOOT_TIMEOUT = 600.0
KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 panic=-1 net.ifnames=1"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    if not value.isdigit():
        raise LabError(f"{name} must be a number, not {value!r}")
    return int(value)


# Lower-case on purpose: the same names are attributes of VM, so code written against the
# module (lab.vm.ssh_port) and code written against an up() result (vm.ssh_port) both work.
ssh_port = _env_int("VSCODE_LAB_SSH_PORT", 2222)
http_port = _env_int("VSCODE_LAB_HTTP_PORT", 8080)
https_port = _env_int("VSCODE_LAB_HTTPS_PORT", 8443)
memory_mb = _env_int("VSCODE_LAB_MEMORY", 8192)

run_dir = cache_dir() / "run"
ssh_config_path = run_dir / "ssh_config"
# Short, as a socket path must be: %C is a hash of host, port and user.
CONTROL_PATH = "/tmp/vscode-lab-ssh-%C"
ssh_key_path = cache_dir() / "ssh" / "id_ed25519"
# `ssh-keygen -A -f PREFIX` writes to PREFIX/etc/ssh.
_host_key_prefix = cache_dir() / "ssh" / "host"
_host_key_dir = _host_key_prefix / "etc" / "ssh"
_pid_file = run_dir / "qemu.pid"
_overlay = run_dir / "overlay.qcow2"
_console_log = run_dir / "console.log"


@dataclass(frozen=True)
class VM:
    """A running lab VM, as seen from the host."""

    pid: int
    ssh_port: int
    http_port: int
    https_port: int
    image_dir: Path
    started: float  # epoch seconds
    ssh_config_path: Path = ssh_config_path
    ssh_key_path: Path = ssh_key_path

    @property
    def uptime(self) -> float:
        return time.time() - self.started


# --- image ----------------------------------------------------------------------------------


def build(force: bool = False) -> Path:
    """Build the VM image unless it exists already; return its directory."""
    image = image_dir()
    if (image / "done").exists() and not force:
        log(f"image {image.name} is up to date, nothing to build")
        return image
    if os.geteuid() != 0:
        raise LabError("building the VM image needs root (debootstrap, chroot)")
    vm = current()
    if vm and vm.image_dir == image:
        raise LabError("the running VM uses this image; run `python3 -m lab down` first")

    started = time.monotonic()
    log(f"building VM image {image.name} (about 3 min)...")
    # Build next to the final directory so that the rename is atomic.
    partial = Path(tempfile.mkdtemp(prefix=f"{image.name}.partial-", dir=cache_dir()))
    try:
        _run_build_script(partial)
        (partial / "done").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
        if image.exists():
            _remove_tree(image)
        partial.rename(image)
    finally:
        if partial.exists():
            _remove_tree(partial)
    _remove_old_images(keep=image)
    log(f"image built in {time.monotonic() - started:.0f} s: {image}")
    return image


def _run_build_script(out: Path) -> None:
    """Run build-vm-image.sh in a process group of its own.

    If we are interrupted, the whole group (debootstrap, dpkg in the chroot) is stopped and
    the script's exit trap unmounts what it mounted, before the caller deletes the tree.
    """
    argv = ["bash", str(BUILD_SCRIPT), str(out), str(ssh_key_path.with_suffix(".pub")),
            str(_host_key_dir)]
    mirror, security = apt_mirrors()
    env = {**os.environ, "LAB_APT_MIRROR": mirror, "LAB_APT_SECURITY_MIRROR": security}
    script = subprocess.Popen(argv, start_new_session=True, env=env)
    try:
        returncode = script.wait()
    except BaseException:
        os.killpg(script.pid, signal.SIGTERM)
        try:
            script.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
        raise
    if returncode != 0:
        raise LabError(f"building the VM image failed (exit {returncode}); see above")


def image_dir() -> Path:
    """Where the image for the current build script and keys lives (built or not)."""
    _ensure_keys()
    host_keys = sorted(_host_key_dir.glob("ssh_host_*_key.pub"))
    digest = inputs_hash(BUILD_SCRIPT, ssh_key_path.with_suffix(".pub"), *host_keys,
                         *apt_mirrors())
    return cache_dir() / f"vm-{digest}"


def _ensure_keys() -> None:
    """Create the lab's client key and the VM's host keys once; every image reuses them."""
    ssh_key_path.parent.mkdir(mode=0o700, exist_ok=True)
    if not ssh_key_path.exists():
        log(f"generating ssh key {ssh_key_path}")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vscode-lab", "-f", ssh_key_path])
    if not any(_host_key_dir.glob("ssh_host_*_key")):
        _host_key_dir.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-A", "-f", _host_key_prefix], stdout=subprocess.DEVNULL)


def _remove_old_images(keep: Path) -> None:
    vm = current()
    for old in cache_dir().glob("vm-*"):
        # The running VM's overlay is backed by its image: never pull that from under it.
        if old.is_dir() and old != keep and not (vm and old == vm.image_dir):
            log(f"removing old image {old.name}")
            _remove_tree(old)


def _remove_tree(path: Path) -> None:
    """rmtree that first unmounts what an interrupted debootstrap left mounted inside."""
    for mountpoint in sorted(_mounts_under(path), reverse=True):
        subprocess.run(["umount", "-l", mountpoint], check=False)
    if _mounts_under(path):
        raise LabError(f"not deleting {path}: something is still mounted inside it")
    shutil.rmtree(path)


def _mounts_under(path: Path) -> list[str]:
    prefix = f"{path.resolve()}/"
    with open("/proc/self/mountinfo") as mountinfo:
        return [
            fields[4] for fields in map(str.split, mountinfo) if fields[4].startswith(prefix)
        ]


# --- lifecycle ------------------------------------------------------------------------------


def up(timeout: float = DEFAULT_TIMEOUT) -> VM:
    """Build if needed, boot a VM on a fresh overlay and wait until SSH works."""
    vm = current()
    if vm:
        raise LabError(
            f"a lab VM is already running (pid {vm.pid}, ssh port {vm.ssh_port});"
            " stop it with `python3 -m lab down`"
        )
    close_ssh_master()  # one left from an earlier VM on the same port
    _discard_run_files()
    image = build()
    _check_ports_free()

    run_dir.mkdir(exist_ok=True)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", image / "disk.qcow2", "-F", "qcow2",
         _overlay])
    log(f"booting {image.name} under QEMU software emulation (ssh port {ssh_port})...")
    started = time.monotonic()
    write_ssh_config(ssh_port)
    try:
        run(_qemu_command(image))
        wait_for_ssh(timeout)
    except BaseException:  # Ctrl-C included: never leave a half-booted VM behind
        _print_console_tail()
        down()
        raise
    log(f"VM up: booted and answering SSH {time.monotonic() - started:.0f} s after start")
    return current()


def down() -> bool:
    """Stop the VM and throw its overlay away; return whether one was running."""
    process = _qemu_process()
    close_ssh_master()
    if process:
        pid, _ = process
        _terminate(pid)
        log(f"VM stopped (pid {pid})")
    else:
        log("no lab VM running")
    _discard_run_files()
    return process is not None


def running() -> bool:
    return _qemu_process() is not None


def current() -> VM | None:
    """The running VM, described from its QEMU command line; None if there is none."""
    process = _qemu_process()
    if not process:
        return None
    pid, args = process
    netdev = args[args.index("-netdev") + 1]
    forwards = {
        int(guest): int(host)
        for host, guest in re.findall(r"hostfwd=tcp:127\.0\.0\.1:(\d+)-:(\d+)", netdev)
    }
    return VM(
        pid=pid,
        ssh_port=forwards[22],
        http_port=forwards[80],
        https_port=forwards[443],
        image_dir=Path(args[args.index("-kernel") + 1]).parent,
        started=_pid_file.stat().st_mtime,
    )


# Everything TCG can emulate, except AVX, AVX2 and SHA-NI: with them hidden, the guest's
# software takes its SSE paths, which TCG runs faster. Measured in the lab VM: sha256sum
# of 200 MB 13.3 s -> 7.8-8.5 s, gzip+gunzip of 100 MB 35 s -> 25-28 s (podman hashes and
# unpacks every image layer).
CPU = "max,avx=off,avx2=off,sha-ni=off"


def _qemu_command(image: Path) -> list:
    forwards = ",".join(
        f"hostfwd=tcp:127.0.0.1:{host}-:{guest}"
        for host, guest in ((ssh_port, 22), (http_port, 80), (https_port, 443))
    )
    return [
        "qemu-system-x86_64",
        # /dev/kvm on this kind of host is PVM-only and kills a stock kernel: emulate instead.
        "-accel", "tcg,thread=multi", "-machine", "q35", "-cpu", CPU,
        "-smp", "2", "-m", str(memory_mb),
        # -daemonize refuses -nographic unless every default character device is redirected.
        "-nographic", "-serial", f"file:{_console_log}", "-monitor", "none", "-parallel", "none",
        "-daemonize", "-pidfile", _pid_file,
        # No -no-reboot: a `reboot` inside the guest must restart it, not end QEMU.
        "-kernel", image / "vmlinuz", "-initrd", image / "initrd.img", "-append", KERNEL_CMDLINE,
        "-drive", f"file={_overlay},if=virtio,format=qcow2",
        "-netdev", f"user,id=n0,{forwards}", "-device", "virtio-net-pci,netdev=n0",
    ]


def _check_ports_free() -> None:
    for env, port in (
        ("VSCODE_LAB_SSH_PORT", ssh_port),
        ("VSCODE_LAB_HTTP_PORT", http_port),
        ("VSCODE_LAB_HTTPS_PORT", https_port),
    ):
        with socket.socket() as sock:
            # Bind like QEMU does, so that TIME_WAIT leftovers of the last VM don't count.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as e:
                raise LabError(f"port 127.0.0.1:{port} is taken ({e.strerror}); set {env}") from e


def _qemu_process() -> tuple[int, list[str]] | None:
    """(pid, argv) of the QEMU named in the pid file, or None.

    Pids get reused, so a pid only counts if /proc says it is a qemu-system binary (a zombie
    has an empty cmdline, so it does not count either).
    """
    try:
        pid = int(_pid_file.read_text())
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    args = raw.decode(errors="replace").split("\0")[:-1]
    if not args or not Path(args[0]).name.startswith("qemu-system"):
        return None
    return pid, args


def _terminate(pid: int) -> None:
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _qemu_process():
                return
            time.sleep(0.1)
    raise LabError(f"QEMU (pid {pid}) did not die")


def _discard_run_files() -> None:
    _overlay.unlink(missing_ok=True)
    _pid_file.unlink(missing_ok=True)


def _print_console_tail(lines: int = 40) -> None:
    try:
        text = _console_log.read_text(errors="replace")
    except FileNotFoundError:
        return
    log(f"last {lines} lines of {_console_log}:")
    print("\n".join(text.splitlines()[-lines:]), file=sys.stderr, flush=True)


# --- ssh ------------------------------------------------------------------------------------


def write_ssh_config(port: int = ssh_port) -> Path:
    """Write the `Host lab` entry that ssh, scp, pyinfra and testinfra can all use."""
    run_dir.mkdir(exist_ok=True)
    ssh_config_path.write_text(
        "Host lab\n"
        "    HostName 127.0.0.1\n"
        f"    Port {port}\n"
        "    User root\n"
        f"    IdentityFile {ssh_key_path}\n"
        "    IdentitiesOnly yes\n"
        # Lab VMs come and go on a local port: host key checks would only get in the way.
        "    StrictHostKeyChecking no\n"
        "    UserKnownHostsFile /dev/null\n"
        "    LogLevel ERROR\n"
        # One connection for the many short commands of a test run: a new handshake costs
        # 2.5-3.5 s with the emulated VM busy, a command over the open connection ~0.1 s.
        "    ControlMaster auto\n"
        f"    ControlPath {CONTROL_PATH}\n"
        "    ControlPersist 5m\n"
        # A master whose VM went away (reboot, crash) gives up within 15 s.
        "    ServerAliveInterval 5\n"
        "    ServerAliveCountMax 3\n"
    )
    return ssh_config_path


def close_ssh_master() -> None:
    """End the shared SSH connection (before the VM goes away, so nothing waits on it)."""
    if ssh_config_path.exists():
        subprocess.run(["ssh", "-F", str(ssh_config_path), "-O", "exit", "lab"],
                       capture_output=True, timeout=15, check=False)


def ssh_argv(*remote: str) -> list[str]:
    """The ssh command line for `lab`, optionally with a remote command."""
    argv = ["ssh", "-F", str(ssh_config_path), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    return [*argv, "--", "lab", *remote]


def ssh(
    cmd: str, check: bool = True, timeout: float | None = 600, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run a shell command in the VM as root; stdout and stderr are captured as text.

    With check=True a non-zero exit raises CommandError, whose message includes the output.
    """
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    proc = subprocess.run(
        ssh_argv(cmd), capture_output=True, text=True, timeout=timeout, **stdin
    )
    if check and proc.returncode != 0:
        raise CommandError(proc.returncode, ["ssh", "lab", cmd], proc.stdout, proc.stderr)
    return proc


def scp_to(local: str | Path, remote: str) -> None:
    """Copy a local file or directory (recursively) to a path in the VM."""
    run(["scp", "-F", ssh_config_path, "-o", "BatchMode=yes", "-q", "-r", "--", local,
         f"lab:{remote}"])


def wait_for_ssh(timeout: float = DEFAULT_TIMEOUT) -> float:
    """Wait until the VM accepts an SSH login and systemd has finished booting.

    Returns the seconds waited. QEMU's port forward accepts TCP even while the guest is
    down, so an open port proves nothing: wait for sshd's banner, then for a real login.
    sshd starts before the boot is complete; waiting for systemd as well means callers
    see a settled system (`systemctl is-system-running` says running, not starting).
    """
    start = time.monotonic()
    while not _login_works():
        if time.monotonic() - start > timeout:
            raise LabError(f"no SSH login within {timeout:.0f} s")
        time.sleep(1)
    remaining = max(timeout - (time.monotonic() - start), 1)
    try:
        state = ssh("systemctl is-system-running --wait", check=False, timeout=remaining)
    except subprocess.TimeoutExpired:
        raise LabError(f"systemd did not finish booting within {timeout:.0f} s") from None
    if state.stdout.strip() == "degraded":
        failed = ssh("systemctl list-units --failed --plain --no-legend", check=False).stdout
        log(f"warning: the VM booted degraded; failed units:\n{failed.rstrip()}")
    return time.monotonic() - start


def reboot(timeout: float = REBOOT_TIMEOUT) -> float:
    """Reboot the guest, wait until it is back, and return the seconds that took.

    QEMU keeps running across the reboot and the old sshd may answer for a moment after
    `systemctl reboot`, so only a new boot id proves the guest came back.
    """
    old_boot_id = _boot_id()
    if not old_boot_id:
        raise LabError("cannot reach the VM over SSH")
    start = time.monotonic()
    _ssh_succeeds("systemctl reboot")
    close_ssh_master()  # its connection dies with the old boot
    while (remaining := timeout - (time.monotonic() - start)) > 0:
        wait_for_ssh(remaining)
        if _boot_id() not in (None, old_boot_id):
            elapsed = time.monotonic() - start
            log(f"VM rebooted in {elapsed:.0f} s")
            return elapsed
        time.sleep(1)
    raise LabError(f"the VM did not come back within {timeout:.0f} s of `systemctl reboot`")


def _login_works() -> bool:
    vm = current()
    if not vm:
        raise LabError(f"QEMU is not running (see {_console_log})")
    return _has_ssh_banner(vm.ssh_port) and _ssh_succeeds("true")


def _has_ssh_banner(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            return sock.recv(4) == b"SSH-"
    except OSError:
        return False


def _ssh_succeeds(cmd: str) -> bool:
    try:
        return ssh(cmd, check=False, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _boot_id() -> str | None:
    try:
        proc = ssh("cat /proc/sys/kernel/random/boot_id", check=False, timeout=30)
    except subprocess.TimeoutExpired:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None
