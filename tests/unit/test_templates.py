"""Templates rendered from data, and checked by the real nginx."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from operations import layout
from operations.layout import TLS_SNIPPET
from operations.model import load
from operations.proxy import HTTP_SOCKETS, TLS_SOCKETS, _socket, free_defaults
from operations.snapshot import Snapshot
from tests.render import (
    boot_script,
    boot_unit,
    catchall,
    cert_script,
    landing,
    quadlet,
    renew_unit,
    tls_snippet,
    vhost,
)
from tests.render import render as render_template
from tests.unit.data import with_changes


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
    # rootless podman's own user namespace (keep-id would cost a copy of every new image)
    assert not any(line.startswith("UserNS=") for line in unit)
    # The whole home persists; workspace and config are mounted inside it (podman mounts
    # by depth of the target, so the order of the lines does not matter).
    assert "Volume=/var/lib/vscode/bob/home:/home/coder" in unit
    assert "Volume=/var/lib/vscode/bob/workspace:/home/coder/project" in unit
    assert "Volume=/var/lib/vscode/bob/config:/home/coder/.local/share/code-server" in unit
    assert "Secret=code-server-bob-password,type=env,target=HASHED_PASSWORD" in unit
    assert ("PodmanArgs=--memory=4G --memory-swap=4G --cgroup-conf=memory.high=3221225472"
            " --cpus=2.0 --pids-limit=4096") in unit
    assert "Restart=on-failure" in unit
    # Started at boot by vscode-workspaces.service, one at a time, not by default.target.
    assert "[Install]" not in unit and not any(line.startswith("WantedBy=") for line in unit)
    assert any(line.startswith("HealthCmd=") and "/healthz" in line for line in unit)
    assert "--memory=3G" in quadlet(site, alice)


def test_boot_starter_starts_every_users_unit_and_waits_on_its_port(site, tmp_path):
    """Run the real boot script in a sandbox, with `systemctl` and `curl` on PATH that only
    log what they were asked."""
    script = boot_script(site)
    (tmp_path / "start").write_text(script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("systemctl", "curl"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {tmp_path}/calls\n')
        (bin_dir / tool).chmod(0o755)
    run = subprocess.run(["sh", str(tmp_path / "start")], capture_output=True, text=True,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, timeout=30)
    assert run.returncode == 0, run.stderr
    expected = []
    for user in site.users:
        expected += [f"systemctl --user start {layout.unit(user)}",
                     f"curl -fsS -o /dev/null http://127.0.0.1:{user.port}/healthz"]
    assert (tmp_path / "calls").read_text().splitlines() == expected
    unit = lines(boot_unit(site))
    assert {f"User={site.service_account}", "Type=oneshot", "WantedBy=multi-user.target",
            f"After=user@{site.service_account_uid}.service network-online.target"} <= unit


def test_vhost_proxies_websockets_to_the_users_port(site):
    alice = site.users[0]
    conf = lines(vhost(site, alice))
    assert "server_name alice.code.example.com;" in conf
    assert "proxy_pass http://127.0.0.1:8081;" in conf
    for header in ("Host $http_host", "Upgrade $http_upgrade", "Connection upgrade",
                   "Accept-Encoding gzip"):
        assert f"proxy_set_header {header};" in conf


def debian_default_site() -> Snapshot:
    """A host whose nginx has Debian's default site (a default server on port 80)."""
    enabled = f"{layout.NGINX_ENABLED}/default"
    return Snapshot(nginx_defaults=[(enabled, "80 default_server"),
                                    (enabled, "[::]:80 default_server")])


@pytest.mark.parametrize("listen, socket", [
    ("443 ssl default_server", ("*", "443")), ("[::]:443 ssl", ("[::]", "443")),
    ("*:80", ("*", "80")), ("0.0.0.0:80 default_server", ("*", "80")),
    ("10.0.0.1", ("10.0.0.1", "80")), ("10.0.0.1:8443 ssl", ("10.0.0.1", "8443")),
    ("[::1]", ("[::1]", "80")), ("unix:/run/x.sock", None),
])
def test_listen_sockets_are_normalized(listen, socket):
    assert _socket(listen) == socket


def test_default_servers_only_where_no_other_site_declares_one(site):
    conf = catchall(site)
    assert "server_name code.example.com *.code.example.com;" in conf
    # A fresh host: ours answer unknown names on both ports.
    assert {"listen 80 default_server;", "listen [::]:443 ssl default_server;",
            "ssl_reject_handshake on;"} <= lines(conf)
    # Debian's default site keeps port 80; ours still refuses unknown names on 443.
    defaults = free_defaults(debian_default_site())
    assert defaults == set(TLS_SOCKETS)
    conf = lines(catchall(site, defaults))
    assert not {"listen 80 default_server;", "listen [::]:80 default_server;"} & conf
    assert {"listen 443 ssl default_server;", "ssl_reject_handshake on;"} <= conf
    # Our own catch-all's defaults are ours: the next run keeps them.
    own = Snapshot(nginx_defaults=[(f"{layout.NGINX_ENABLED}/{layout.CATCHALL}", "443 ssl default_server")])
    assert free_defaults(own) == set(HTTP_SOCKETS) | set(TLS_SOCKETS)
    assert "code.example.com" in landing(site)


def test_vhost_limits_logins_per_address_and_never_buffers_bodies(site):
    conf = lines(vhost(site, site.users[0]))
    assert "limit_req zone=vscode_login burst=5 nodelay;" in conf
    assert "proxy_request_buffering off;" in conf
    # Refused tries get a page that says what happened, from a location only nginx reaches.
    assert f"error_page 429 {layout.LOGIN_LIMIT_URI};" in conf
    assert f"location = {layout.LOGIN_LIMIT_URI} {{" in conf and "internal;" in conf
    assert f"alias {layout.LOGIN_LIMIT_PAGE};" in conf
    zone = lines(catchall(site))
    assert "limit_req_zone $vscode_login_client zone=vscode_login:1m rate=1r/m;" in zone
    assert '"~^POST:/login/?$" $binary_remote_addr;' in zone


def test_http_redirects_and_only_https_serves(site):
    conf = lines(catchall(site))
    assert "return 301 https://$host$request_uri;" in conf
    assert "listen 443 ssl;" in conf
    user_conf = lines(vhost(site, site.users[0]))
    assert "listen 443 ssl;" in user_conf and "listen 80;" not in user_conf
    assert f"include {TLS_SNIPPET};" in user_conf


def test_tls_follows_mozilla_intermediate_with_hsts(site):
    conf = lines(tls_snippet(site))
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert not any("ssl_stapling" in line for line in conf)
    assert 'add_header Strict-Transport-Security "max-age=63072000" always;' in conf
    assert f"ssl_certificate {layout.certificate_file(site)};" in conf
    ciphers = next(line for line in conf if line.startswith("ssl_ciphers"))
    assert all(c.startswith("ECDHE-") for c in ciphers.split()[1].rstrip(";").split(":"))


def test_renewal_script_and_timer(site, tmp_path):
    script = cert_script(site)
    assert "--domains '*.code.example.com' --domains code.example.com" in script
    assert "--dns vultr" in script and "--renew-hook" in script
    assert "--dns.disable-cp" not in script
    (tmp_path / "vscode-cert").write_text(script)
    check = subprocess.run(["sh", "-n", str(tmp_path / "vscode-cert")], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr
    timer = lines(renew_unit(site, "timer"))
    assert {"Persistent=true", "WantedBy=timers.target"} <= timer
    assert any(line.startswith("RandomizedDelaySec=") for line in timer)
    assert "ExecStart=/usr/local/sbin/vscode-cert renew" in lines(renew_unit(site, "service"))


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx binary not installed")
@pytest.mark.parametrize("detect", [True, False], ids=["detected", "control"])
def test_rendered_config_passes_real_nginx_t(tmp_path, site, detect):
    """The rendered sites, beside an existing site that declares a default server on port 80,
    pass `nginx -t`. The control renders as if that site were not there: nginx refuses the
    duplicate default server, so the detection is what keeps the config valid."""
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "existing.conf").write_text(
        "server { listen 80 default_server; server_name _; return 200 'other site'; }\n")
    # A real certificate and key where the snippet points, so nginx -t loads them.
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    f"/CN=*.{site.domain}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    snippet = tmp_path / "vscode-tls.conf"
    snippet.write_text(tls_snippet(site).replace(layout.certificate_file(site), str(cert))
                       .replace(layout.certificate_key_file(site), str(key)))
    defaults = free_defaults(Snapshot(nginx_defaults=[(str(sites / "existing.conf"),
                                                       "80 default_server")]))
    if not detect:
        defaults = set(HTTP_SOCKETS) | set(TLS_SOCKETS)
    (sites / layout.CATCHALL).write_text(
        catchall(site, defaults).replace(TLS_SNIPPET, str(snippet)))
    for user in site.users:
        (sites / layout.vhost_file(user)).write_text(vhost(site, user).replace(TLS_SNIPPET, str(snippet)))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{\n  access_log off;\n  include {sites}/*.conf;\n}}\n"
    )
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True)
    if detect:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0 and "duplicate default server" in result.stderr


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


def test_lab_style_acme_settings_reach_lego_and_its_env():
    from operations.packages import packages_for
    from operations.tls import acme_env, lego_args

    site = load(with_changes(acme_dns_provider="exec", acme_dns_resolvers=["127.0.0.1:8053"],
                             acme_dns_propagation_check=False,
                             acme_dns_settings={"EXEC_PATH": "/usr/local/bin/hook"},
                             acme_server_ca="/etc/ca.pem"))
    args = lego_args(site)
    assert "--dns exec" in args and "--dns.resolvers 127.0.0.1:8053" in args
    assert args.endswith("--dns.disable-cp")
    env = acme_env(site, {"SECRET_TOKEN": "it's secret"})
    assert "EXEC_PATH=/usr/local/bin/hook\n" in env and "LEGO_CA_CERTIFICATES=/etc/ca.pem\n" in env
    assert "SECRET_TOKEN='it'\"'\"'s secret'\n" in env  # shell-quoted for `. acme.env`
    assert "lego" in packages_for(site) and "nginx" in packages_for(site)
    tunnel = load(with_changes(tls_mode="tunnel"))
    assert "nginx" not in packages_for(tunnel) and "lego" not in packages_for(tunnel)


@pytest.mark.parametrize("nginx_accepts", [False, True], ids=["refused", "control"])
def test_a_renewed_certificate_nginx_refuses_is_put_back(site, tmp_path, nginx_accepts):
    """The renewal script in a sandbox: `lego` writes a new certificate and calls the renew
    hook, `nginx -t` refuses it (or, the control, accepts it)."""
    from operations.tls import script_values

    cert, key = tmp_path / "site.crt", tmp_path / "site.key"
    cert.write_text("old certificate\n")
    key.write_text("old key\n")
    (tmp_path / "acme.env").write_text("")
    values = script_values(site) | {"env_file": str(tmp_path / "acme.env"),
                                    "certificate": str(cert), "certificate_key": str(key)}
    script = tmp_path / "vscode-cert"
    script.write_text(render_template("usr/local/sbin/vscode-cert.j2", **values))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stubs = {
        # lego renews: new files, then its --renew-hook (`vscode-cert reload`).
        "lego": f"#!/bin/sh\necho new certificate > {cert}\necho new key > {key}\n"
                f"exec sh {script} reload\n",
        "nginx": "#!/bin/sh\nexit 0\n" if nginx_accepts else
                 f"#!/bin/sh\ngrep -q old {cert} && exit 0\necho bad certificate >&2\nexit 1\n",
        "systemctl": f"#!/bin/sh\necho \"systemctl $*\" >> {tmp_path}/calls\n",
    }
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    run = subprocess.run(["sh", str(script), "renew", "100000"], capture_output=True, text=True,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, timeout=30)
    calls = (tmp_path / "calls").read_text() if (tmp_path / "calls").exists() else ""
    if nginx_accepts:
        assert run.returncode == 0, run.stderr
        assert cert.read_text() == "new certificate\n" and "systemctl reload nginx" in calls
    else:
        assert run.returncode == 1 and "refused the renewed certificate" in run.stderr
        assert cert.read_text() == "old certificate\n" and key.read_text() == "old key\n"
        assert "reload" not in calls
