"""Is a deployed host healthy? Packages, account, storage, containers, limits, proxy."""

from __future__ import annotations

import shlex

import pytest

from operations import layout
from operations.layout import BOOT_SCRIPT, BOOT_UNIT, CATCHALL, RENEW_UNIT
from operations.layout import NGINX_AVAILABLE as AVAILABLE
from operations.layout import NGINX_ENABLED as ENABLED
from operations.model import CODER_UID
from operations.packages import packages_for
from tools.site import curl_https, protocol_options, s_client


@pytest.mark.site_wide
def test_packages_installed(host, site):
    missing = [name for name in packages_for(site) if not host.package(name).is_installed]
    assert not missing, f"not installed: {missing}"


@pytest.mark.site_wide
def test_podman_has_quadlet(host):
    assert host.exists("podman")
    version = host.check_output("podman --version").split()[-1]
    assert tuple(int(x) for x in version.split(".")[:2]) >= (4, 9), version


@pytest.mark.site_wide
def test_service_account(host, site):
    account = host.user(site.service_account)
    assert account.exists
    assert account.uid == site.service_account_uid
    assert account.shell == "/usr/sbin/nologin"
    assert account.home == layout.account_home(site)
    line = f"{site.service_account}:{site.subid_start}:{site.subid_count}"
    assert line in host.file("/etc/subuid").content_string.splitlines()
    assert line in host.file("/etc/subgid").content_string.splitlines()
    assert host.file(f"/var/lib/systemd/linger/{site.service_account}").exists
    assert host.service(f"user@{site.service_account_uid}").is_running


def test_storage_layout(host, site):
    base = host.file(site.workspace_base)
    assert base.is_directory and base.user == "root" and base.mode == 0o755
    for user in site.users:
        folder = host.file(layout.user_dir(site, user))
        assert folder.is_directory and folder.mode == 0o750, folder.path
        assert (folder.user, folder.group) == (site.service_account, site.service_account)
        # What the container mounts belongs to its `coder`, a subordinate id of the account.
        for path in (layout.workspace_dir(site, user), layout.config_dir(site, user),
                     layout.home_dir(site, user)):
            f = host.file(path)
            assert f.is_directory and f.mode == 0o750, path
            assert (f.uid, f.gid) == (site.coder_host_uid, site.coder_host_uid), path
        # The mount points inside the home are coder's too, so coder can write to ~/.local.
        for path in layout.home_mount_points(site, user):
            f = host.file(path)
            assert f.is_directory and (f.uid, f.gid) == (site.coder_host_uid,) * 2, path
        ssh = host.file(f"{layout.home_dir(site, user)}/.ssh")
        if ssh.exists:  # made by the person (ssh-keygen); it keeps its strict mode on the host
            assert ssh.mode == 0o700 and ssh.uid == site.coder_host_uid, ssh.path


def test_unit_active_and_started_at_boot(host, account, site):
    # The quadlets have no [Install]: vscode-workspaces.service starts them at boot, one at
    # a time, each with the port it waits on.
    assert host.service(BOOT_UNIT).is_enabled
    script = host.file(BOOT_SCRIPT).content_string.splitlines()
    for user in site.users:
        assert account.check(f"systemctl --user is-active {layout.unit(user)}").strip() == "active"
        assert f"start {layout.unit(user)} {user.port}" in script, f"not started at boot: {user.name}"
        # A unit that keeps failing alerts (through the account's own unit and root's spool).
        on_failure = account.check(f"systemctl --user show -p OnFailure --value {layout.unit(user)}")
        assert on_failure.strip() == f"{layout.FAILED_UNIT}{layout.unit(user)}.service"
    assert host.service(f"{layout.ALERT_SPOOL_UNIT}.path").is_running


def test_container_runs_the_current_image(account, site):
    for user in site.users:
        assert account.inspect(layout.container(user), "{{.State.Status}}") == "running"
        assert account.inspect(layout.container(user), "{{.ImageName}}") == site.image
        # The label the rollout compares: the container runs the unit on disk.
        unit = account.host.file(f"{layout.quadlet_dir(site)}/{layout.quadlet_file(user)}")
        spec = account.inspect(layout.container(user),
                               f'{{{{index .Config.Labels "{layout.SPEC_LABEL}"}}}}')
        assert spec and f"Label={layout.SPEC_LABEL}={spec}" in unit.content_string.splitlines()


def test_the_whole_home_is_the_persisted_folder(host, account, site):
    for user in site.users:
        mounts = account.inspect(layout.container(user),
                                 "{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}").split()
        assert f"{layout.home_dir(site, user)}:{layout.CONTAINER_HOME}" in mounts, mounts
        assert f"{layout.workspace_dir(site, user)}:{layout.CONTAINER_PROJECT}" in mounts, mounts
        # coder can write where tools and the AI login go; the image's start-up scripts are
        # not in the person's home (a newer image must win there).
        account.check(f"podman exec {layout.container(user)} sh -c"
                      f" 'test -w {layout.CONTAINER_HOME} && test -w {layout.CONTAINER_HOME}/.local/share'")
        assert not host.file(f"{layout.home_dir(site, user)}/entrypoint.d").exists


def test_container_processes_are_not_root_on_host(host, account, site):
    for user in site.users:
        pid = account.inspect(layout.container(user), "{{.State.Pid}}")
        cgroup = host.check_output(f"cut -d: -f3 /proc/{pid}/cgroup")
        procs = host.check_output(f"cat /sys/fs/cgroup{cgroup}/cgroup.procs").split()
        assert procs, f"no processes in {cgroup}"
        owners = set(host.check_output(f"ps -o uid= -p {','.join(procs)}").split())
        # `coder` of the container, a subordinate id of the account: not root, and not even
        # the account that owns the containers.
        assert owners == {str(site.coder_host_uid)}, owners
        # ... and `coder` inside is uid 1000 as upstream.
        assert account.check(f"podman exec {layout.container(user)} id -u").strip() == str(CODER_UID)


def test_container_cgroup_limits(host, account, site):
    for user in site.users:
        pid = account.inspect(layout.container(user), "{{.State.Pid}}")
        cgroup = "/sys/fs/cgroup" + host.check_output(f"cut -d: -f3 /proc/{pid}/cgroup")
        found = {name: host.file(f"{cgroup}/{name}").content_string.strip()
                 for name in ("memory.max", "memory.high", "cpu.max", "pids.max")}
        assert found == {"memory.max": str(user.limits.memory_max),
                         "memory.high": str(user.limits.memory_high),
                         "cpu.max": f"{user.limits.cpu_quota} 100000",
                         "pids.max": str(user.limits.pids)}, user.name


def test_published_on_loopback_only(host, site):
    listening = host.check_output("ss -Htln").split("\n")
    for user in site.users:
        local = [line.split()[3] for line in listening if line.split()[3].endswith(f":{user.port}")]
        assert local == [f"127.0.0.1:{user.port}"], local


def test_healthcheck_passes(account, site):
    for user in site.users:
        assert account.run(f"podman healthcheck run {layout.container(user)}").rc == 0


def test_secret_not_in_unit_or_inspect(host, account, site):
    for user in site.users:
        source = host.file(f"{layout.SECRETS_DIR}/{layout.password_secret(user)}")
        assert (source.user, source.mode) == ("root", 0o600)
        the_hash = source.content_string
        assert the_hash.startswith("$argon2"), "control: the hash this check looks for"
        unit = host.file(f"{layout.quadlet_dir(site)}/{layout.quadlet_file(user)}").content_string
        assert the_hash not in unit
        assert the_hash not in account.check(f"podman inspect {layout.container(user)}")


@pytest.fixture
def proxied(site):
    if not site.uses_proxy:
        pytest.skip(f"tls_mode is {site.tls_mode!r}: no nginx sites by design")


def _curl(host, tls_ca, hostname: str, path: str = "/") -> tuple[str, str]:
    out = host.check_output(
        curl_https(hostname, path, tls_ca, "-o /tmp/body -w '%{http_code} %{redirect_url}'")
        + "; echo; cat /tmp/body")
    status, _, body = out.partition("\n")
    return status.strip(), body


def _tls_handshake(host, tls_ca, hostname: str, *options: str):
    """openssl s_client to nginx on 127.0.0.1:443 by name; returns the command's result."""
    return host.run(shlex.join(s_client(hostname, tls_ca, "127.0.0.1:443", *options))
                    + " </dev/null 2>&1")


@pytest.mark.site_wide
def test_nginx_config_valid(host, proxied):
    assert host.run("nginx -t").rc == 0


def test_vhost_per_user_serves_login_over_https(host, site, tls_ca, proxied):
    for user in site.users:
        assert host.file(f"{ENABLED}/{layout.vhost_file(user)}").linked_to == f"{AVAILABLE}/{layout.vhost_file(user)}"
        status, _ = _curl(host, tls_ca, layout.hostname(site, user))
        assert status.startswith("302 ") and status.endswith("/login"), status
        status, body = _curl(host, tls_ca, layout.hostname(site, user), "/login")
        assert status.startswith("200"), status
        assert "code-server" in body and 'type="password"' in body


@pytest.mark.site_wide
def test_unknown_subdomain_gets_landing_404(host, site, tls_ca, proxied):
    assert host.file(f"{ENABLED}/{CATCHALL}").exists
    status, body = _curl(host, tls_ca, f"nobody-here.{site.domain}")
    assert status.startswith("404"), status
    assert "no workspace at this address" in body


@pytest.mark.site_wide
def test_names_not_ours_and_the_bare_address_reveal_no_workspace(host, site, tls_ca, proxied):
    """Unknown names and the bare address: HTTPS refuses the handshake (or another site's
    default server answers), plain HTTP shows no workspace and points to none."""
    ours = layout.hostname(site, site.users[0])
    assert _tls_handshake(host, tls_ca, ours).rc == 0, "control: our own name completes"
    for options in (["-noservername"], ["-servername", "other.example"]):
        out = host.run(shlex.join(["openssl", "s_client", "-connect", "127.0.0.1:443",
                                   *options]) + " </dev/null 2>&1")
        assert out.rc != 0 and "BEGIN CERTIFICATE" not in out.stdout, (
            f"a handshake with {options} completed: {out.stdout[-1500:]}")
    for name in ("127.0.0.1", "other.example"):
        out = host.check_output(f"curl -s -o /tmp/body -w '%{{http_code}} %{{redirect_url}}'"
                                f" -H 'Host: {name}' http://127.0.0.1/; echo; cat /tmp/body")
        status, _, body = out.partition("\n")
        assert site.domain not in status and "code-server" not in body, (name, status)


@pytest.mark.site_wide
def test_plain_http_redirects_to_https(host, site, proxied):
    for name in (layout.hostname(site, site.users[0]), f"nobody-here.{site.domain}"):
        out = host.check_output(f"curl -s -o /dev/null -w '%{{http_code}} %{{redirect_url}}'"
                                f" --resolve {name}:80:127.0.0.1 http://{name}/x?y=1")
        assert out == f"301 https://{name}/x?y=1", out


@pytest.mark.site_wide
def test_hsts_on_every_answer(host, site, tls_ca, proxied):
    for name in (layout.hostname(site, site.users[0]), f"nobody-here.{site.domain}"):
        headers = host.check_output(curl_https(name, "/", tls_ca, "-o /dev/null -D -"))
        assert "strict-transport-security: max-age=63072000" in headers.lower(), headers


def test_certificate_chain_verifies_for_every_user(host, site, tls_ca, proxied):
    for user in site.users:
        result = _tls_handshake(host, tls_ca, layout.hostname(site, user))
        assert result.rc == 0 and "Verify return code: 0 (ok)" in result.stdout, result.stdout


@pytest.mark.site_wide
@pytest.mark.parametrize("protocol,offered", [("-tls1_3", True), ("-tls1_2", True),
                                              ("-tls1_1", False), ("-tls1", False)])
def test_tls_protocols(host, site, tls_ca, proxied, protocol, offered):
    result = _tls_handshake(host, tls_ca, layout.hostname(site, site.users[0]),
                            *protocol_options(protocol))
    assert (result.rc == 0) == offered, result.stdout[-2000:]


@pytest.mark.site_wide
def test_renewal_timer_active(host, site, proxied):
    if site.tls_mode != "acme":
        pytest.skip("tls_mode is not 'acme': certificates are renewed by their owner")
    timer = host.service(f"{RENEW_UNIT}.timer")
    assert timer.is_running and timer.is_enabled
    env = host.file(layout.ACME_ENV_FILE)
    assert (env.user, env.mode) == ("root", 0o600)


@pytest.mark.site_wide
def test_backups_on_timers_and_the_repository_opens(host, site):
    for unit in (layout.BACKUP_UNIT, layout.BACKUP_CHECK_UNIT):
        timer = host.service(f"{unit}.timer")
        assert timer.is_running and timer.is_enabled, unit
    env = host.file(layout.BACKUP_ENV_FILE)
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert host.file(layout.BACKUP_SCRIPT).mode == 0o755
    # The repository exists and this password opens it (what every nightly run needs first).
    opened = host.run(f"{layout.BACKUP_SCRIPT} restic cat config")
    assert opened.rc == 0, opened.stderr
    # The last run, if there was one, did not fail.
    result = host.run(f"systemctl show -p Result --value {layout.BACKUP_UNIT}.service")
    assert result.stdout.strip() == "success", f"{layout.BACKUP_UNIT}: {result.stdout}"


@pytest.mark.site_wide
def test_failed_timer_jobs_alert(host, site):
    env = host.file(layout.ALERT_ENV_FILE)
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert host.file(layout.ALERT_SCRIPT).mode == 0o755
    watched = [layout.BACKUP_UNIT, layout.BACKUP_CHECK_UNIT]
    if site.tls_mode == "acme":
        watched.append(RENEW_UNIT)
    for unit in watched:
        on_failure = host.run(f"systemctl show -p OnFailure --value {unit}.service").stdout
        # %n is the whole unit name: vscode-alert@vscode-backup.service.service
        assert on_failure.strip() == layout.on_failure(f"{unit}.service"), unit


@pytest.mark.site_wide
def test_the_memory_guard_watches_and_the_daily_check_is_on_its_timer(host, site):
    guard = host.service(f"{layout.MEMORY_GUARD_UNIT}.service")
    assert guard.is_running and guard.is_enabled
    timer = host.service(f"{layout.DAILY_CHECK_UNIT}.timer")
    assert timer.is_running and timer.is_enabled
    for unit in (f"{layout.MEMORY_GUARD_UNIT}.service", f"{layout.DAILY_CHECK_UNIT}.service"):
        on_failure = host.run(f"systemctl show -p OnFailure --value {unit}").stdout
        assert on_failure.strip() == layout.on_failure(unit), unit
    assert host.file(layout.DAILY_CHECK_SCRIPT).mode == 0o755
