"""Is a deployed host healthy? Packages, account, storage, containers, limits, proxy."""

from __future__ import annotations

import pytest

from operations.model import CODER_UID
from operations.packages import PACKAGES
from operations.proxy import AVAILABLE, CATCHALL, ENABLED


@pytest.mark.parametrize("package", PACKAGES)
def test_package_installed(host, package):
    assert host.package(package).is_installed


def test_podman_has_quadlet(host):
    assert host.exists("podman")
    version = host.check_output("podman --version").split()[-1]
    assert tuple(int(x) for x in version.split(".")[:2]) >= (4, 9), version


def test_service_account(host, site):
    account = host.user(site.service_account)
    assert account.exists
    assert account.uid == site.service_account_uid
    assert account.shell == "/usr/sbin/nologin"
    assert account.home == site.account_home
    line = f"{site.service_account}:{site.subid_start}:{site.subid_count}"
    assert line in host.file("/etc/subuid").content_string.splitlines()
    assert line in host.file("/etc/subgid").content_string.splitlines()
    assert host.file(f"/var/lib/systemd/linger/{site.service_account}").exists
    assert host.service(f"user@{site.service_account_uid}").is_running


def test_storage_layout(host, site):
    base = host.file(site.workspace_base)
    assert base.is_directory and base.user == "root" and base.mode == 0o755
    for user in site.users:
        for path in (site.user_dir(user), site.workspace_dir(user), site.config_dir(user)):
            f = host.file(path)
            assert f.is_directory, path
            assert (f.user, f.group, f.mode) == (site.service_account, site.service_account,
                                                 0o750), path


def test_unit_active_and_enabled_for_boot(account, site):
    for user in site.users:
        assert account.check(f"systemctl --user is-active {user.unit}").strip() == "active"
        # Quadlet units are "generated"; WantedBy= in [Install] wires them to default.target.
        wants = account.check("systemctl --user list-dependencies --plain default.target")
        assert user.unit in wants, f"{user.unit} would not start at boot"


def test_container_runs_the_current_image(account, site):
    for user in site.users:
        assert account.inspect(user.container, "{{.State.Status}}") == "running"
        assert account.inspect(user.container, "{{.ImageName}}") == site.image


def test_container_processes_are_not_root_on_host(host, account, site):
    for user in site.users:
        pid = account.inspect(user.container, "{{.State.Pid}}")
        cgroup = host.check_output(f"cut -d: -f3 /proc/{pid}/cgroup")
        procs = host.check_output(f"cat /sys/fs/cgroup{cgroup}/cgroup.procs").split()
        assert procs, f"no processes in {cgroup}"
        owners = set(host.check_output(f"ps -o user= -p {','.join(procs)}").split())
        assert owners == {site.service_account}, owners
        # ... and `coder` inside is uid 1000 as upstream, mapped by keep-id.
        assert account.check(f"podman exec {user.container} id -u").strip() == str(CODER_UID)


def test_container_cgroup_limits(host, account, site):
    for user in site.users:
        pid = account.inspect(user.container, "{{.State.Pid}}")
        cgroup = "/sys/fs/cgroup" + host.check_output(f"cut -d: -f3 /proc/{pid}/cgroup")
        read = lambda name: host.file(f"{cgroup}/{name}").content_string.strip()  # noqa: E731
        assert read("memory.max") == str(user.limits.memory_max)
        assert read("memory.high") == str(user.limits.memory_high)
        assert read("cpu.max") == f"{user.limits.cpu_quota} 100000"
        assert read("pids.max") == str(user.limits.pids)


def test_published_on_loopback_only(host, site):
    listening = host.check_output("ss -Htln").split("\n")
    for user in site.users:
        local = [line.split()[3] for line in listening if line.split()[3].endswith(f":{user.port}")]
        assert local == [f"127.0.0.1:{user.port}"], local


def test_healthcheck_passes(account, site):
    for user in site.users:
        assert account.run(f"podman healthcheck run {user.container}").rc == 0


def test_secret_not_in_unit_or_inspect(host, account, site):
    for user in site.users:
        unit = host.file(f"{site.quadlet_dir}/{user.quadlet_file}").content_string
        assert user.password_hash not in unit
        assert user.password_hash not in account.check(f"podman inspect {user.container}")
        source = host.file(f"{site.secrets_dir}/{user.password_secret}")
        assert (source.user, source.mode) == ("root", 0o600)


def _curl(host, hostname: str, path: str = "/") -> tuple[str, str]:
    out = host.check_output(
        f"curl -s --compressed -o /tmp/body -w '%{{http_code}} %{{redirect_url}}'"
        f" -H 'Host: {hostname}' http://127.0.0.1{path}; echo; cat /tmp/body"
    )
    status, _, body = out.partition("\n")
    return status.strip(), body


def test_nginx_config_valid(host):
    assert host.run("nginx -t").rc == 0


def test_vhost_per_user_serves_login(host, site):
    for user in site.users:
        assert host.file(f"{ENABLED}/{user.vhost_file}").linked_to == f"{AVAILABLE}/{user.vhost_file}"
        status, _ = _curl(host, site.hostname(user))
        assert status.startswith("302 ") and status.endswith("/login"), status
        status, body = _curl(host, site.hostname(user), "/login")
        assert status.startswith("200"), status
        assert "code-server" in body and 'type="password"' in body


def test_unknown_subdomain_gets_landing_404(host, site):
    assert host.file(f"{ENABLED}/{CATCHALL}").exists
    status, body = _curl(host, f"nobody-here.{site.domain}")
    assert status.startswith("404"), status
    assert "no workspace at this address" in body
