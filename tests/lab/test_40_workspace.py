"""The complete workspace on the converged lab VM: login, tools, opencode, extension,
onboarding, persistence, limits under load, shared keys, and bad data refused."""

from __future__ import annotations

import base64
import io
import json
import re
import time
import zipfile

import pytest

from lab import fixtures, vsix
from lab.site import LAB_HASHES, LAB_PASSWORDS, lab_users
from operations import layout
from tests.lab.helpers import (
    alerts_posted,
    assert_ok,
    cgroup_of,
    https_status,
    in_container,
    login,
    main_pid,
    occurrences,
    person,
    run_host_suite,
    sh,
    started_at,
    wait_alert,
    wait_serving,
)
from tools.site import curl_https

pytestmark = pytest.mark.usefixtures("lab_vm", "serving")


def test_wrong_password_is_refused_and_right_one_logs_in(lab_vm, site):
    # bob: the browser test logs in as alice, and code-server limits logins per workspace.
    status, jar, wrong = login(site, "bob", "not-the-password")
    assert status == "200", status
    assert wrong and "code-server-session" not in jar
    status, jar, wrong = login(site, "bob", LAB_PASSWORDS["bob"])
    assert status == "302", status
    assert "code-server-session" in jar and not wrong
    # The README's claim: a browser-session cookie (curl's jar writes expiry 0 for those).
    cookie = next(line.split("\t") for line in jar.splitlines() if "code-server-session" in line)
    assert cookie[4] == "0", f"the session cookie has an expiry date: {cookie[4]}"


def test_a_strangers_failed_logins_never_lock_the_person_out(lab_vm, site):
    """16 wrong passwords from one address: more than code-server's own limiter allows the
    workspace (2 a minute plus 12 an hour, counted for all addresses together), so without
    nginx's per-address limit the person would be locked out now."""
    hostname = f"alice.{site.domain}"
    attempt = curl_https(hostname, "/login", fixtures.PEBBLE_ROOTS,
                         "--interface 127.0.0.2 -o /dev/null -w '%{http_code}\\n'"
                         " --data-urlencode password=not-the-password")
    codes = sh(f"for i in $(seq 16); do {attempt}; done").split()
    assert set(codes) <= {"200", "429"} and codes.count("429") >= 9, codes
    # The refused browser gets a page that says what happened and when to try again.
    refused = sh(curl_https(hostname, "/login", fixtures.PEBBLE_ROOTS,
                            "--interface 127.0.0.2 -i --data-urlencode password=not-it"))
    assert refused.startswith("HTTP/1.1 429") and "Too many password tries" in refused, refused
    assert re.search(r"(?im)^retry-after: 60\r?$", refused), refused
    # The page is not a path anyone can ask for.
    assert https_status(hostname, layout.LOGIN_LIMIT_URI) != "200"
    status, jar, wrong = login(site, "alice", LAB_PASSWORDS["alice"], source="127.0.0.3")
    assert status == "302" and "code-server-session" in jar and not wrong, (status, wrong)


def test_nginx_never_stores_a_strangers_request_body(lab_vm, site):
    """An 8 MB POST without a session, sent slowly: while it is on its way, no nginx worker
    holds a temporary body file (with request buffering, nginx would spool all of it to
    /var/lib/nginx/body before code-server could refuse it)."""
    upload = curl_https(f"alice.{site.domain}", "/", fixtures.PEBBLE_ROOTS,
                        "--limit-rate 1M -o /dev/null --data-binary @/tmp/big-body")
    spooled = sh("head -c 8M /dev/zero > /tmp/big-body;"
                 f" ({upload}) >/dev/null 2>&1 & sleep 3;"
                 " for pid in $(pgrep -f 'nginx: worker process'); do ls -l /proc/$pid/fd; done"
                 " | grep -c nginx/body; wait; true").strip()
    assert spooled == "0", f"{spooled} request body file(s) held by nginx"


PROBE = """
import socket, struct, sys
ports = [int(p) for p in sys.argv[1].split(",")]
addresses = set(sys.argv[2].split(",")) | {"127.0.0.1"}
for line in open("/proc/net/route").read().splitlines()[1:]:
    fields = line.split()
    if fields[1] == "00000000":
        addresses.add(socket.inet_ntoa(struct.pack("<L", int(fields[2], 16))))
try:
    addresses.add(socket.gethostbyname("host.containers.internal"))
except OSError:
    pass
for address in sorted(addresses):
    for port in ports:
        try:
            socket.create_connection((address, port), timeout=3).close()
            print(f"OPEN {address}:{port}")
        except OSError:
            print(f"closed {address}:{port}")
"""


def test_a_workspace_reaches_no_other_workspace_and_no_loopback_service(lab_vm, site):
    """From inside alice's container: bob's code-server port and every service that listens
    on the host's loopback only, on loopback, the gateway, host.containers.internal and each
    of the host's own addresses."""
    bob = person(site, "bob")
    loopback_only = {int(line.rsplit(":", 1)[1]) for line in
                     sh("ss -Hltn | awk '{print $4}' | grep '^127\\.'").split()}
    assert bob.port in loopback_only, "control: bob's port listens on the host's loopback"
    assert https_status(layout.hostname(site, bob)) == "200", "control: bob serves"
    host_addresses = sh("hostname -I").split()
    ports = ",".join(str(p) for p in sorted(loopback_only))
    sh(f"cat > /tmp/probe.py <<'EOF'\n{PROBE}\nEOF")
    alice = layout.container(person(site, "alice"))
    sh(layout.as_account(site, f"podman cp /tmp/probe.py {alice}:/tmp/probe.py"))
    out = in_container(lab_vm, site, "alice",
                       f"python3 /tmp/probe.py {ports} {','.join(host_addresses)}").stdout
    assert "closed 127.0.0.1" in out, f"control: the probe ran: {out}"
    assert "OPEN" not in out, out


def test_tools_are_on_path_for_coder(lab_vm, site):
    out = in_container(lab_vm, site, "alice",
                       "id -un; python3 --version; pip3 --version; node --version; npm --version;"
                       " git --version; opencode --version; python3 -m venv /tmp/v && echo VENV_OK").stdout
    assert out.startswith("coder\n")
    assert "Python 3." in out and "pip " in out and "v24.22.3" in out and "git version" in out
    assert "1.18.33" in out and "VENV_OK" in out


def test_opencode_extension_present_despite_bind_mount(lab_vm, site):
    out = in_container(lab_vm, site, "alice", "code-server --list-extensions --show-versions").stdout
    assert "sst-dev.opencode@1.18.33" in out
    # ... and it sits in the persistent data dir, not in a hidden image layer.
    assert sh(f"ls {layout.config_dir(site, site.users[0])}/extensions").count("sst-dev.opencode")


def test_opencode_config_is_managed(lab_vm, site):
    managed = in_container(lab_vm, site, "alice", f"cat {layout.CONTAINER_OPENCODE_CONFIG}").stdout
    assert '"autoupdate": false' in managed and '"share": "disabled"' in managed
    # Read-only for the person: the image pins the version.
    assert in_container(lab_vm, site, "alice", f"echo x >> {layout.CONTAINER_OPENCODE_CONFIG}",
                        check=False).returncode != 0


def test_new_workspace_gets_welcome_once(lab_vm, site):
    alice = site.users[0]
    readme = f"{layout.workspace_dir(site, alice)}/README.md"
    assert "Ctrl+Esc" in sh(f"cat {readme}")
    sh(f"rm {readme}")
    sh(layout.as_account(site, f"systemctl --user restart {layout.unit(alice)}"))
    wait_serving(lab_vm, site)
    assert lab_vm.ssh(f"test -e {readme}", check=False).returncode == 1


def test_shared_keys_reach_only_those_who_use_them_and_rotate_precisely(lab_vm, deployer, site, monkeypatch):
    users = lab_users()
    users["bob"] = dict(users["bob"], ai_keys=[])  # bob opts out of shared keys
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-lab-first-key-0001")
    result = deployer("keys", users=users)
    assert_ok(result)
    # pyinfra ran at its most verbose (--debug --diff -vvv): the new key's file was written,
    # and neither it nor a password hash was printed.
    assert any("Shared key ANTHROPIC_API_KEY" in name for name in result.changed), result.changed
    for secret in ["sk-lab-first-key-0001", *LAB_HASHES.values()]:
        assert secret not in result.output + json.dumps(result.report), "a secret was printed"
    assert in_container(lab_vm, site, "alice", "printenv ANTHROPIC_API_KEY").stdout.strip() == "sk-lab-first-key-0001"
    assert in_container(lab_vm, site, "bob", "printenv ANTHROPIC_API_KEY", check=False).stdout.strip() == ""
    # [s]: the pattern must not match its own command line in `ps`.
    key = "'[s]k-lab-first-key'"
    alice, bob = (layout.container(person(site, name)) for name in ("alice", "bob"))
    assert occurrences(layout.as_account(site, f"podman exec {alice} env"), key) == 1, (
        "control: the key is in alice's environment, so the search below can find it")
    for where in (f"cat {layout.quadlet_dir(site)}/*.container",
                  layout.as_account(site, f"podman inspect {alice}"),
                  "journalctl --no-pager -o verbose", "ps auxww"):
        assert occurrences(where, key) == 0, f"key leaked into: {where}"
    assert sh(f"stat -c '%U %a' {layout.SECRETS_DIR}/ai-anthropic-api-key").strip() == "root 600"
    # Nor does a password hash reach the journal.
    source = f"{layout.SECRETS_DIR}/{layout.password_secret(person(site, 'alice'))}"
    the_hash = f"\"$(cat {source})\""
    assert occurrences(f"cat {source}; echo", the_hash, fixed=True) == 1, "control"
    assert occurrences("journalctl --no-pager -o verbose", the_hash, fixed=True) == 0

    alice_before, bob_before = (started_at(lab_vm, site, c) for c in (alice, bob))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-lab-rotated-key-0002")
    result = deployer("rotate-key", users=users)
    assert_ok(result)
    assert "sk-lab-rotated-key-0002" not in result.output + json.dumps(result.report)
    assert in_container(lab_vm, site, "alice", "printenv ANTHROPIC_API_KEY").stdout.strip() == "sk-lab-rotated-key-0002"
    assert started_at(lab_vm, site, alice) != alice_before
    assert started_at(lab_vm, site, bob) == bob_before

    # The next deploy (the image update below) runs without the key: it is removed there.


def a_wheel(name: str) -> str:
    """A pure-Python wheel with a console script, base64: a tool to `pip install --user`
    without an index (the lab's containers reach no PyPI)."""
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": "def main():\n    print('hello-tool works')\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: lab\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[console_scripts]\nhello-tool = {name}:main\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
    return base64.b64encode(buffer.getvalue()).decode()


# What a person sets up in their home, as they would in the terminal (issue: a home that
# stays), and what each step must still show afterwards.
HOME_SETUP = (
    "git config --global user.name 'Alice Lab'"
    " && mkdir -p -m 700 ~/.ssh && ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519"
    " && echo 'echo from-yesterday' >> ~/.bash_history"
    " && mkdir -p ~/.local/share/opencode"
    " && echo '{\"anthropic\": {\"type\": \"api\", \"key\": \"sk-lab-own-login\"}}'"
    " > ~/.local/share/opencode/auth.json"
    f" && echo {a_wheel('hello_tool')} | base64 -d > /tmp/hello_tool-1.0-py3-none-any.whl"
    " && pip install --user --no-index --quiet /tmp/hello_tool-1.0-py3-none-any.whl"
)
HOME_STATE = (
    "git config --global user.name; ssh-keygen -lf ~/.ssh/id_ed25519.pub;"
    " grep -c from-yesterday ~/.bash_history; grep -o sk-lab-own-login"
    " ~/.local/share/opencode/auth.json; hello-tool"
)


SURVIVOR = f"{layout.CONTAINER_PROJECT}/survivor.txt"


def test_workspace_survives_restart_recreate_rebuild_and_reboot(lab_vm, deployer, site):
    alice = site.users[0]
    marker = f"{layout.workspace_dir(site, alice)}/survivor.txt"
    in_container(lab_vm, site, "alice", f"echo still-here > {SURVIVOR}")
    in_container(lab_vm, site, "alice", HOME_SETUP)
    home = in_container(lab_vm, site, "alice", HOME_STATE).stdout
    assert home.split("\n")[0] == "Alice Lab" and home.rstrip().endswith("hello-tool works"), home
    ssh_dir = f"{layout.home_dir(site, alice)}/.ssh"
    assert sh(f"stat -c '%a %u' {ssh_dir}").split() == ["700", str(site.coder_host_uid)]

    def survived(step: str):
        assert sh(f"cat {marker}").strip() == "still-here", f"lost after {step}"
        assert in_container(lab_vm, site, "alice",
                            f"cat {SURVIVOR}").stdout.strip() == "still-here"
        # git identity, the same SSH key, the history line, the AI login, the --user tool
        now = in_container(lab_vm, site, "alice", HOME_STATE, check=False)
        assert now.stdout == home, f"the home changed after {step}: {now.stdout!r} {now.stderr!r}"
        assert sh(f"stat -c '%a' {ssh_dir}").strip() == "700", f"~/.ssh mode after {step}"

    # A crash: quadlet containers run with --rm, so "restart" is systemd's Restart=on-failure
    # bringing a killed container back (`podman restart` would leave the unit stopped), as a
    # new container from the image: the workspace survives a recreate.
    old_id = sh(layout.as_account(site, f"podman inspect --format '{{{{.Id}}}}' {layout.container(alice)}"))
    sh(layout.as_account(site, f"podman kill {layout.container(alice)}"))
    time.sleep(10)
    wait_serving(lab_vm, site)
    new_id = sh(layout.as_account(site, f"podman inspect --format '{{{{.Id}}}}' {layout.container(alice)}"))
    assert old_id != new_id, "the restart after a crash did not recreate the container"
    survived("container recreated after a crash")
    # The control of the reboot's "no restart" check below: a crash does count.
    assert restarts(site, alice) >= 1, "systemd did not count the crash as a restart"

    # An image update: a new extension version changes the build inputs -> new image tag,
    # rebuild, every unit restarts on it, and the extension is updated in place.
    newer = vsix.build(version="1.18.34")
    # A deploy from a machine without the shared key of the test above stops before it
    # changes anything: the key is never stripped by accident.
    refused = deployer("key-not-provided", extra=f"image_extension_vsix = {str(newer)!r}\n")
    assert refused.returncode != 0 and refused.changed == [], refused.output[-3000:]
    assert "ANTHROPIC_API_KEY is on the server but not provided" in refused.output
    assert refused.commands <= 2, f"{refused.commands} remote commands: more than the snapshot"
    # Removing it on purpose: out of ai_keys; the image update happens in the same deploy.
    result = deployer("image-update-no-keys",
                      extra=f"image_extension_vsix = {str(newer)!r}\nai_keys = []\n")
    assert_ok(result)
    result_group_data = deployer.last_group_data
    assert any("Build localhost/vscode-workspace" in name for name in result.changed)
    survived("image rebuild")
    assert "ai-anthropic-api-key" not in sh(layout.as_account(site, "podman secret ls"))
    env = in_container(lab_vm, site, "alice", "env").stdout
    assert "ANTHROPIC_API_KEY" not in env and "PATH=" in env
    listed = in_container(lab_vm, site, "alice", "code-server --list-extensions --show-versions").stdout
    assert "sst-dev.opencode@1.18.34" in listed and "1.18.33" not in listed

    lab_vm.reboot()
    wait_until_active(lab_vm, site)
    wait_serving(lab_vm, site, timeout=600)
    survived("VM reboot")
    # The boot starter started them, one at a time, each at the first try: it ran and
    # succeeded in this boot, and no unit needed a restart (the lock-step failure it
    # prevents shows as restarts).
    boot = sh(f"systemctl show -p ActiveState -p Result -p ExecMainStatus {layout.BOOT_UNIT}")
    assert set(boot.split()) == {"Result=success", "ExecMainStatus=0", "ActiveState=active"}, boot
    for user in site.users:
        assert restarts(site, user) == 0, f"{user.name}'s unit was restarted during boot"
    started = sh(f"journalctl -b -u {layout.BOOT_UNIT} -o cat --no-pager")
    assert "did not start" not in started and "not answering" not in started, started

    # The user-facing suite once more, now that the image, the keys and the boot changed
    # (with the group data of the image update, which names the newer extension).
    suite = run_host_suite("--extra-group-data", str(result_group_data[0]))
    assert suite.returncode == 0, suite.stdout[-8000:] + suite.stderr[-2000:]
    assert " passed" in suite.stdout


def restarts(site, user) -> int:
    """How often systemd restarted the person's unit since it was last started by hand."""
    out = sh(layout.as_account(site, f"systemctl --user show -p NRestarts {layout.unit(user)}"))
    return int(out.strip().removeprefix("NRestarts="))


def wait_until_active(lab_vm, site, timeout: float = 600):
    deadline = time.monotonic() + timeout
    units = " ".join(layout.unit(u) for u in site.users)
    while time.monotonic() < deadline:
        states = lab_vm.ssh(layout.as_account(site, f"systemctl --user is-active {units}"), check=False).stdout
        if states.split() == ["active"] * len(site.users):
            return
        time.sleep(5)
    raise AssertionError(f"units not active {timeout}s after boot: {states!r}")


def test_a_runaway_is_oom_killed_inside_its_container_without_lifting_a_limit(
        lab_vm, site, timings):
    """A process that allocates without end reaches the soft limit (memory.high), where the
    kernel alone would throttle it for as long as it runs; the memory guard lifts the soft
    limit once pressure stays high, the hard limit's OOM kill ends the process inside that
    container, the soft limit comes back, and an alert goes out. Nothing is lifted by hand."""
    alice, bob = site.users
    bob_started = started_at(lab_vm, site, layout.container(bob))

    def identity() -> str:
        """alice's container id, start time and main process: all unchanged means the
        container and its code-server survived."""
        return sh(layout.as_account(site, "podman inspect --format"
                                    " '{{.Id}} {{.State.StartedAt}} {{.State.Pid}}'"
                                    f" {layout.container(alice)}")).strip()

    alice_before = identity()
    pid = alice_before.split()[-1]
    cgroup = cgroup_of(pid)
    assert sh(f"cat {cgroup}/memory.high").strip() == str(alice.limits.memory_high)
    kills_before = int(re.search(r"oom_kill (\d+)", sh(f"cat {cgroup}/memory.events")).group(1))
    posted = alerts_posted()
    # memory.current every half second while the hog runs, to time the guard from the
    # moment the soft limit is reached; the hog gets 300 s, then `timeout` ends it (124).
    hog = layout.as_account(site, f"podman exec {layout.container(alice)} timeout 300 python3 -c"
                                  " 'x = []\nwhile True: x.append(b\"x\" * (64 << 20))'")
    out = lab_vm.ssh(f"(while sleep 0.5; do echo $(date +%s.%N) $(cat {cgroup}/memory.current);"
                     f" done) > /tmp/hog-memory & w=$!; {hog} >/dev/null 2>&1; rc=$?;"
                     " end=$(date +%s.%N); kill $w; echo rc=$rc end=$end", check=False).stdout
    rc = int(re.search(r"rc=(\d+)", out).group(1))
    end = float(re.search(r"end=([\d.]+)", out).group(1))
    assert rc == 137, f"the hog was not OOM-killed (exit {rc}; 124: still alive after 300 s)"
    samples = [line.split() for line in sh("cat /tmp/hog-memory").splitlines()]
    reached = [float(t) for t, current in samples
               if int(current) >= 0.98 * alice.limits.memory_high]
    assert reached, "the hog never reached the soft limit"
    timings.append(("runaway: soft limit reached to OOM kill", end - reached[0]))
    events = sh(f"cat {cgroup}/memory.events")
    assert int(re.search(r"oom_kill (\d+)", events).group(1)) > kills_before
    # The guard sees the kill at its next look (every few seconds) and puts the limit back.
    deadline = time.monotonic() + 30
    while sh(f"cat {cgroup}/memory.high").strip() != str(alice.limits.memory_high):
        assert time.monotonic() < deadline, "the soft limit did not come back"
        time.sleep(1)
    alert = wait_alert("memory-guard", posted)
    assert alice.name in alert["text"] or alice.name in " ".join(alert.get("log", [])), alert
    # Killed inside: the same container with the same code-server process still runs, the
    # other person was not touched, and everyone keeps serving.
    assert identity() == alice_before, "alice's container or code-server did not survive"
    assert sh(f"cat /proc/{pid}/comm").strip(), "code-server's process is gone"
    assert started_at(lab_vm, site, layout.container(bob)) == bob_started
    for user in site.users:
        code = https_status(layout.hostname(site, user))
        assert code == "200", f"{user.name} not serving after the OOM kill: {code}"


def test_page_cache_at_the_soft_limit_is_reclaimed_and_left_alone(lab_vm, site):
    """The control of the runaway test: writing and reading a file bigger than the soft
    limit fills the page cache up to memory.high, where the kernel reclaims it; nothing is
    killed and the memory guard does not act."""
    bob = site.users[1]
    cgroup = cgroup_of(main_pid(site, layout.container(bob)))
    guard = f"journalctl -u {layout.MEMORY_GUARD_UNIT} -o cat --no-pager | grep -c {bob.name} || true"
    lifted_before = sh(guard).strip()
    kills_before = re.search(r"oom_kill (\d+)", sh(f"cat {cgroup}/memory.events")).group(1)
    size = bob.limits.memory_high * 11 // 10 // 2**20  # MiB: 10% above the soft limit
    big = f"{layout.CONTAINER_HOME}/page-cache-test"
    done = in_container(lab_vm, site, bob.name,
                        f"head -c {size}M /dev/zero > {big} && cat {big} > /dev/null;"
                        f" echo rc=$?; rm -f {big}").stdout
    assert "rc=0" in done, done
    peak = int(sh(f"cat {cgroup}/memory.peak"))
    assert peak >= 0.95 * bob.limits.memory_high, f"never reached the soft limit: {peak}"
    assert re.search(r"oom_kill (\d+)", sh(f"cat {cgroup}/memory.events")).group(1) == kills_before
    assert sh(f"cat {cgroup}/memory.high").strip() == str(bob.limits.memory_high)
    assert sh(guard).strip() == lifted_before, "the memory guard acted on page cache"


def test_cpu_quota_holds_under_a_busy_loop(lab_vm, site):
    bob = site.users[1]
    cgroup = cgroup_of(main_pid(site, layout.container(bob)))
    assert sh(f"cat {cgroup}/cpu.max").split() == [str(bob.limits.cpu_quota), "100000"]
    # The emulated VM often cannot give one container more than 1.5 cores at all, so the
    # configured quota is checked above and enforcement is shown with a quota this VM can
    # exceed for sure: 0.3 cores, for this test only, then restored.
    sh(f"echo '30000 100000' > {cgroup}/cpu.max")
    try:
        # Three spinning processes for 12 s; one ssh session measures while they run.
        spin = layout.as_account(site, f"podman exec {layout.container(bob)} sh -c 'for i in 1 2 3; do"
                               " timeout 12 sh -c \"while :; do :; done\" & done; wait'")
        out = sh(f"({spin}) >/dev/null 2>&1 & sleep 3; echo now $(date +%s.%N);"
                         f" cat {cgroup}/cpu.stat; echo ---; sleep 6; echo now $(date +%s.%N);"
                         f" cat {cgroup}/cpu.stat; wait")
        first, second = out.split("---")
        before = dict(line.split() for line in first.strip().splitlines())
        after = dict(line.split() for line in second.strip().splitlines())
        t0, t1 = float(before["now"]), float(after["now"])
    finally:
        sh(f"echo '{bob.limits.cpu_quota} 100000' > {cgroup}/cpu.max")
    cores = (int(after["usage_usec"]) - int(before["usage_usec"])) / 1e6 / (t1 - t0)
    assert cores <= 0.3 * 1.2, f"used {cores:.2f} cores under a 0.3-core quota"
    assert int(after["nr_throttled"]) > int(before["nr_throttled"]), "never throttled"
    assert sh(f"cat {cgroup}/cpu.max").split() == [str(bob.limits.cpu_quota), "100000"]


def test_bad_group_data_runs_no_remote_command(lab_vm, deployer, site):
    before = sh("find /etc -newer /proc/1 -printf '%p %T@\\n' 2>/dev/null | sort | md5sum")
    users = lab_users() | {"Bad.Name": {"port": 8081, "password_hash": "hunter2"}}
    result = deployer("bad-data", users=users)
    assert result.returncode != 0
    assert "users['Bad.Name']" in result.output and "nothing was changed on the host" in result.output
    # pyinfra --debug logs every remote command; the idempotence test shows the count is
    # not zero for a deploy that does run (its control).
    assert result.commands == 0, f"{result.commands} remote commands ran"
    assert "Starting operation" not in result.output
    after = sh("find /etc -newer /proc/1 -printf '%p %T@\\n' 2>/dev/null | sort | md5sum")
    assert before == after, "files changed on the host"

