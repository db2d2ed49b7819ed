"""Negative control of the host suite's "TLS 1.0/1.1 refused" check: against a real nginx on
loopback that does offer TLS 1.0 and 1.1, the same s_client command succeeds, so the check
fails when the server offers an old protocol. Without lowering the client's own security
level, OpenSSL 3 refuses TLS 1.0 by itself: that is why a plain `-tls1` proved nothing."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from tools.site import protocol_options, s_client

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs the nginx binary")

NAME = "legacy.test"


@pytest.fixture
def legacy_nginx(tmp_path):
    """nginx serving TLS 1.0-1.2 on a free loopback port; yields (port, CA file)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
daemon off;
events {{}}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {tmp_path}/cert.pem;
    ssl_certificate_key {tmp_path}/key.pem;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ssl_ciphers ALL:@SECLEVEL=0;
    return 200 "old\\n";
  }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                             stderr=subprocess.PIPE, text=True)
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    yield port, str(tmp_path / "cert.pem")
    nginx.terminate()
    nginx.wait(timeout=10)


def handshake(port: int, ca: str, *options: str) -> int:
    return subprocess.run(s_client(NAME, ca, f"127.0.0.1:{port}", *options), input="",
                          capture_output=True, text=True, timeout=30).returncode


@pytest.mark.parametrize("protocol", ["-tls1", "-tls1_1"])
def test_the_check_sees_an_old_protocol_that_the_server_offers(legacy_nginx, protocol):
    port, ca = legacy_nginx
    assert handshake(port, ca, *protocol_options(protocol)) == 0


def test_a_plain_tls1_client_refuses_by_itself(legacy_nginx):
    port, ca = legacy_nginx
    assert handshake(port, ca, "-tls1") != 0


def test_a_certificate_is_obtained_again_only_for_what_matters():
    from dataclasses import replace

    from operations.model import load
    from operations.snapshot import Snapshot
    from operations.tls import RENEW_DAYS, certificate_due
    from tests.unit.data import with_changes

    site = load(with_changes())  # Let's Encrypt production
    now = 1_764_820_000
    good = Snapshot(certificate_names=sorted(site.certificate_names), now=now,
                    certificate_end=now + 60 * 86400,
                    certificate_url="https://acme-v02.api.letsencrypt.org/acme/cert/1")
    assert certificate_due(site, good) is None
    assert certificate_due(site, replace(good, certificate_names=[])) == "none yet"
    assert "other names" in certificate_due(site, replace(good, certificate_names=["a.b"]))
    staging = replace(good, certificate_url="https://acme-staging-v02.api.letsencrypt.org/c/1")
    assert "acme-staging-v02" in certificate_due(site, staging)
    assert certificate_due(site, replace(good, certificate_end=now + 5 * 86400)) == "5 days left"
    assert certificate_due(site, replace(good, certificate_end=now - 86400)) == "expired"
    assert certificate_due(site, replace(good, certificate_end=now + RENEW_DAYS * 86400)) is None
