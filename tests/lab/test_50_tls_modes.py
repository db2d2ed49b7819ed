"""The two other ways to serve: a certificate you bring, and the seed's Phase 1 (SSH tunnel
only, no nginx sites, no TLS). Last in the lab run: the tunnel mode removes the HTTPS sites.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import time

import pytest

from lab import fixtures, vm
from operations import layout
from operations.layout import NGINX_ENABLED as ENABLED
from operations.layout import RENEW_UNIT, TLS_SNIPPET
from tests.lab.helpers import assert_ok, sh
from tools.site import s_client

pytestmark = pytest.mark.usefixtures("lab_vm")

BYO = "/etc/ssl/vscode-byo"


def test_brought_certificate_is_served(site, deployer):
    # A wildcard certificate from "your own" CA, made on the server as an admin would copy it.
    sh(f"mkdir -p {BYO} && cd {BYO} && "
       "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30"
       " -subj '/CN=Brought Own Test CA' -keyout ca.key -out ca.pem"
       " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
       " 2>/dev/null && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
       f" -subj '/CN=*.{site.domain}' -keyout key.pem -out req.csr 2>/dev/null &&"
       f" printf 'subjectAltName=DNS:*.{site.domain},DNS:{site.domain}\\n' > ext &&"
       " openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30"
       " -extfile ext -out cert.pem 2>/dev/null && chmod 600 key.pem")
    master = sh("cat /run/nginx.pid").strip()
    extra = ("tls_mode = 'certificate'\n"
             f"tls_certificate = '{BYO}/cert.pem'\ntls_certificate_key = '{BYO}/key.pem'\n")

    # First with a broken site of someone else's on the server: `nginx -t` refuses the
    # candidate, so our files go back to the last good ones (disk and running nginx agree),
    # nginx is not reloaded, and the deploy fails saying why.
    snippet = sh(f"cat {TLS_SNIPPET}")
    sh(f"printf 'server {{ listen 80; server_name broken.example.org; no_such_directive on; }}\\n'"
       f" > {ENABLED}/broken.conf")
    try:
        failed = deployer("tls-certificate-nginx-refuses", extra=extra)
    finally:
        sh(f"rm {ENABLED}/broken.conf")
    assert failed.returncode != 0, "the deploy succeeded with a config nginx -t refuses"
    assert "nginx -t refused the new configuration" in failed.output, failed.output[-3000:]
    assert "no_such_directive" in failed.output and "the problem is outside them" in failed.output
    assert sh(f"cat {TLS_SNIPPET}") == snippet, "the refused snippet stayed on disk"
    assert sh("cat /run/nginx.pid").strip() == master
    assert sh("nginx -t -q 2>&1; echo $?").strip().endswith("0"), "our files on disk fail nginx -t"
    alice = layout.hostname(site, site.users[0])
    assert "200" == sh(f"curl -s -o /dev/null -w '%{{http_code}}' --cacert {fixtures.PEBBLE_ROOTS}"
                       f" --resolve {alice}:443:127.0.0.1 https://{alice}/healthz").strip()

    result = deployer("tls-certificate", extra=extra)
    assert_ok(result)
    assert all("Obtain" not in name for name in result.changed), result.changed
    out = vm.ssh(shlex.join(s_client(alice, f"{BYO}/ca.pem")) + " </dev/null 2>&1", check=False)
    assert out.returncode == 0 and "Brought Own Test CA" in out.stdout, out.stdout[-2000:]
    assert f"ssl_certificate {BYO}/cert.pem;" in sh(f"cat {TLS_SNIPPET}")
    assert sh("cat /run/nginx.pid").strip() == master, "nginx restarted instead of reloading"
    # No ACME renewal for someone else's certificate.
    state = vm.ssh(f"systemctl is-active {RENEW_UNIT}.timer", check=False).stdout.strip()
    assert state == "inactive", state


def test_tunnel_mode_removes_the_sites_and_the_tunnel_works(site, deployer):
    result = deployer("tls-tunnel", extra="tls_mode = 'tunnel'\n")
    assert_ok(result)
    enabled = sh(f"ls {ENABLED}").split()
    assert not [name for name in enabled if name.startswith("vscode-")], enabled
    # The foreign site is untouched and nginx still serves it.
    out = sh(f"curl -s --resolve {fixtures.FOREIGN_SITE}:80:127.0.0.1"
             f" http://{fixtures.FOREIGN_SITE}/")
    assert out.strip() == fixtures.FOREIGN_SITE_BODY
    # The README's command for a person: ssh -L PORT:127.0.0.1:PORT server, then localhost.
    alice = site.users[0]
    local = _free_port()
    tunnel = subprocess.Popen(
        # Its own connection, as a person's ssh would be (not the lab's shared one).
        ["ssh", "-F", str(vm.ssh_config_path), "-o", "ControlMaster=no", "-o", "ControlPath=none",
         "-N", "-o", "ExitOnForwardFailure=yes",
         "-L", f"{local}:127.0.0.1:{alice.port}", "lab"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        status = ""
        for _ in range(30):
            status = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                 f"http://127.0.0.1:{local}/healthz"], capture_output=True, text=True).stdout
            if status == "200":
                break
            time.sleep(1)
        assert status == "200", f"no workspace through the tunnel: {status!r}"
        login = subprocess.run(["curl", "-s", f"http://127.0.0.1:{local}/login"],
                               capture_output=True, text=True).stdout
        assert 'type="password"' in login
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
