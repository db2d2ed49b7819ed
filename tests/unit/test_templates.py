"""Templates rendered from data, and checked by the real nginx."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from operations.model import load
from tests.render import catchall, landing, quadlet, vhost
from tests.unit.test_model import with_changes


@pytest.fixture
def site():
    return load(with_changes(users__bob__memory_max="4G", users__bob__memory_high="3G",
                             users__bob__cpus=2))


def lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines()}


def test_quadlet_has_limits_mounts_and_loopback_port(site):
    alice, bob = site.users
    unit = lines(quadlet(site, bob))
    assert "ContainerName=code-server-bob" in unit
    assert f"Image={site.image}" in unit
    assert "PublishPort=127.0.0.1:8082:8080" in unit
    assert "UserNS=keep-id:uid=1000,gid=1000" in unit
    assert "Volume=/var/lib/vscode/bob/workspace:/home/coder/project" in unit
    assert "Volume=/var/lib/vscode/bob/config:/home/coder/.local/share/code-server" in unit
    assert "Secret=code-server-bob-password,type=env,target=HASHED_PASSWORD" in unit
    assert ("PodmanArgs=--memory=4G --memory-swap=4G --cgroup-conf=memory.high=3221225472"
            " --cpus=2.0 --pids-limit=4096") in unit
    assert "Restart=on-failure" in unit
    assert "WantedBy=default.target" in unit
    assert any(line.startswith("HealthCmd=") and "/healthz" in line for line in unit)
    assert "--memory=3G" in quadlet(site, alice)


def test_quadlet_never_contains_the_password_hash(site):
    for user in site.users:
        assert user.password_hash not in quadlet(site, user)


def test_vhost_proxies_websockets_to_the_users_port(site):
    alice = site.users[0]
    conf = lines(vhost(site, alice))
    assert "server_name alice.code.example.com;" in conf
    assert "proxy_pass http://127.0.0.1:8081;" in conf
    for header in ("Host $http_host", "Upgrade $http_upgrade", "Connection upgrade",
                   "Accept-Encoding gzip"):
        assert f"proxy_set_header {header};" in conf


def test_catchall_does_not_take_default_server(site):
    conf = catchall(site)
    assert "server_name *.code.example.com;" in conf
    listens = [line for line in lines(conf) if line.startswith("listen")]
    assert listens and not any("default_server" in line for line in listens)
    assert "code.example.com" in landing(site)


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx binary not installed")
def test_rendered_config_passes_real_nginx_t(tmp_path, site):
    """The rendered sites, beside an unrelated existing site, pass `nginx -t`."""
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "existing.conf").write_text(
        "server { listen 80 default_server; server_name _; return 200 'other site'; }\n")
    (sites / "vscode-catchall.conf").write_text(catchall(site))
    for user in site.users:
        (sites / user.vhost_file).write_text(vhost(site, user))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{\n  access_log off;\n  include {sites}/*.conf;\n}}\n"
    )
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_nginx_t_catches_a_broken_vhost(tmp_path, site):
    """The check above can fail: a duplicate server_name with a conflicting listen breaks it."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx binary not installed")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ server {{ listen 80; location / {{ proxy_pass http://127.0.0.1:notaport; }} }} }}\n"
    )
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True)
    assert result.returncode != 0
