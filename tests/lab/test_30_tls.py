"""HTTPS as in production: the wildcard certificate from a real ACME server (pebble, via lego
and DNS-01), what nginx really offers, renewal, and the site that was there before us.

Runs after test_cycle.py (converged) and before test_workspace.py (which reboots the VM).
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from lab import fixtures, vm
from operations import layout
from operations.layout import CERT_SCRIPT as SCRIPT
from tests.lab.helpers import (
    ARTIFACTS,
    alerts_posted,
    assert_ok,
    https_status,
    sh,
    wait_alert,
)
from tools.site import s_client

pytestmark = pytest.mark.usefixtures("lab_vm")

ROOTS = fixtures.PEBBLE_ROOTS
RENEW_SERVICE = f"{layout.RENEW_UNIT}.service"
# Mozilla's intermediate TLS 1.2 ciphers for an ECDSA certificate (lego's default key type),
# and the TLS 1.3 suites OpenSSL enables.
EXPECTED_TLS12 = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                  "ECDHE-ECDSA-CHACHA20-POLY1305"}
EXPECTED_TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                  "TLS_CHACHA20_POLY1305_SHA256"}


def served_certificate(hostname: str) -> dict:
    """Serial, issuer and dates of the certificate nginx serves for `hostname`."""
    out = sh(f"openssl s_client -connect 127.0.0.1:443 -servername {hostname}"
                   " </dev/null 2>/dev/null | openssl x509 -noout -serial -issuer -dates -ext"
                   " subjectAltName")
    return {"serial": re.search(r"serial=(\w+)", out).group(1),
            "issuer": re.search(r"issuer=(.*)", out).group(1).strip(),
            "text": out}


def nginx_master_pid() -> str:
    return sh("cat /run/nginx.pid").strip()


@pytest.fixture(scope="module")
def alice_host(site):
    return layout.hostname(site, site.users[0])


def test_certificate_comes_from_the_acme_server_and_covers_the_wildcard(site, alice_host):
    cert = served_certificate(alice_host)
    assert "Pebble" in cert["issuer"], cert["text"]
    assert f"DNS:*.{site.domain}" in cert["text"] and f"DNS:{site.domain}" in cert["text"]
    # Verified from this machine too, through the forwarded port, by name, against pebble.
    roots = fixtures.pebble_roots(ARTIFACTS / "tls" / "pebble-roots.pem")
    proc = subprocess.run(s_client(alice_host, str(roots), f"127.0.0.1:{vm.https_port}"),
                          input="", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Verify return code: 0 (ok)" in proc.stdout, proc.stdout


def test_tls_offer_is_mozilla_intermediate(alice_host):
    """Every cipher this machine's OpenSSL knows, tried one by one: only the expected pass."""
    offered = {"TLSv1.2": set(), "TLSv1.3": set()}

    def accepts(*args: str) -> bool:
        return subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{vm.https_port}", "-servername",
             alice_host, *args], input="", capture_output=True, text=True, timeout=30,
        ).returncode == 0

    tls12 = subprocess.run(["openssl", "ciphers", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"],
                           capture_output=True, text=True, check=True).stdout.strip().split(":")
    for cipher in tls12:
        if accepts("-tls1_2", "-cipher", f"{cipher}:@SECLEVEL=0"):
            offered["TLSv1.2"].add(cipher)
    for suite in sorted(EXPECTED_TLS13):
        if accepts("-tls1_3", "-ciphersuites", suite):
            offered["TLSv1.3"].add(suite)
    legacy = {p: accepts(f"-{p}", "-cipher", "ALL:@SECLEVEL=0") for p in ("tls1", "tls1_1")}
    report = [f"tried {len(tls12)} TLS 1.2 ciphers and {len(EXPECTED_TLS13)} TLS 1.3 suites"]
    report += [f"{proto}: {', '.join(sorted(c))}" for proto, c in offered.items()]
    report += [f"{p}: {'ACCEPTED' if ok else 'refused'}" for p, ok in legacy.items()]
    (ARTIFACTS / "tls").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "tls" / "offer.txt").write_text("\n".join(report) + "\n")
    assert offered["TLSv1.2"] == EXPECTED_TLS12, report
    assert offered["TLSv1.3"] == EXPECTED_TLS13, report
    assert not any(legacy.values()), report


def test_the_site_that_was_here_before_still_serves():
    out = sh(f"curl -s --resolve {fixtures.FOREIGN_SITE}:80:127.0.0.1"
                   f" http://{fixtures.FOREIGN_SITE}/")
    assert out.strip() == fixtures.FOREIGN_SITE_BODY
    assert sh(f"readlink {layout.NGINX_ENABLED}/shop.conf").strip() == \
        "../sites-available/shop.conf"
    # Debian's own default site is still there too.
    assert sh(f"ls {layout.NGINX_ENABLED}").split().count("default") == 1


def nginx_workers() -> set[str]:
    """A reload replaces the worker processes; nothing else does."""
    return set(sh("pgrep -f 'nginx: worker process'").split())


def test_timer_run_with_nothing_due_leaves_nginx_alone(site, alice_host):
    """The renewal unit itself, as the timer starts it: not due, so no new certificate and
    no reload."""
    before, workers = served_certificate(alice_host), nginx_workers()
    assert workers
    sh("systemctl start vscode-cert-renew.service")  # Type=oneshot: returns when done
    result = sh("systemctl show -p Result --value vscode-cert-renew.service").strip()
    assert result == "success", sh("journalctl -u vscode-cert-renew.service -n 30 --no-pager")
    assert served_certificate(alice_host)["serial"] == before["serial"]
    assert nginx_workers() == workers, "nginx was reloaded although nothing was renewed"


def test_failed_renewal_keeps_the_current_certificate(site, alice_host):
    """The DNS provider is down (its stand-in stopped): lego cannot publish the challenge.
    (Not pebble: a restarted pebble forgets the ACME account, which Let's Encrypt never does.)
    """
    before = served_certificate(alice_host)
    posted = alerts_posted()
    # The timer's own service, told (by a runtime drop-in) to renew now.
    dropin = f"/run/systemd/system/{RENEW_SERVICE}.d"
    sh(f"mkdir -p {dropin} && printf '[Service]\\nExecStart=\\nExecStart={SCRIPT} renew 100000\\n'"
       f" > {dropin}/now.conf && systemctl daemon-reload && systemctl stop lab-challtestsrv")
    try:
        result = sh_result(f"systemctl start {RENEW_SERVICE}")
    finally:
        sh(f"systemctl start lab-challtestsrv; rm -r {dropin}; systemctl daemon-reload")
    assert result.returncode != 0, "renewal succeeded without the DNS provider"
    # A failed renewal alerts: nobody else would notice before the certificate expires.
    alert = wait_alert(RENEW_SERVICE, posted)
    assert alert["result"] == "exit-code" and alert["log"], alert
    # The next timer run, with nothing due, succeeds and clears the failed state.
    sh(f"systemctl start {RENEW_SERVICE}")
    assert served_certificate(alice_host)["serial"] == before["serial"]
    assert https_status(alice_host) == "200"
    cert = sh(f"openssl x509 -noout -serial -in {layout.certificate_file(site)}")
    assert before["serial"] in cert, "a failed renewal touched the certificate file"


def test_forced_renewal_reloads_nginx_without_dropping_a_request(site, alice_host):
    """The timer's own command, told to renew now; a client polls throughout."""
    before, master, workers = served_certificate(alice_host), nginx_master_pid(), nginx_workers()
    poll = ("while [ -e /tmp/poll.on ]; do curl -s -o /dev/null -w '%{http_code}\\n'"
            f" --cacert {ROOTS} --resolve {alice_host}:443:127.0.0.1"
            f" https://{alice_host}/healthz >> /tmp/poll.codes; sleep 0.2; done")
    sh(f"rm -f /tmp/poll.codes; touch /tmp/poll.on; (nohup sh -c \"{poll}\" >/dev/null"
             " 2>&1 &)")
    start = time.monotonic()
    try:
        out = sh(f"{SCRIPT} renew 100000 2>&1")
        seconds = time.monotonic() - start
        time.sleep(2)
    finally:
        sh("rm -f /tmp/poll.on")
    time.sleep(1)
    codes = sh("cat /tmp/poll.codes").split()
    after = served_certificate(alice_host)
    (ARTIFACTS / "tls").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "tls" / "renewal.txt").write_text(
        f"forced renewal (lego renew + reload): {seconds:.1f} s\n"
        f"requests during it: {len(codes)}, non-200: {[c for c in codes if c != '200']}\n"
        f"serial before {before['serial']}, after {after['serial']}\n{out}")
    assert after["serial"] != before["serial"], "nginx still serves the old certificate"
    assert nginx_master_pid() == master, "nginx was restarted, not reloaded"
    assert nginx_workers() != workers, "nginx was not reloaded"
    assert len(codes) >= 3 and set(codes) == {"200"}, f"requests dropped: {codes}"


def test_another_acme_server_means_a_new_certificate(site, deployer, alice_host):
    """Moving acme_server (staging to production; here the same pebble under another name)
    obtains a certificate from the new server at the next deploy, and moving back does too.
    Before, only the names were compared and the old server's certificate stayed."""
    record = layout.certificate_json(site)
    before = served_certificate(alice_host)
    moved = deployer("acme-server-moved", extra="acme_server = 'https://localhost:14000/dir'\n")
    assert_ok(moved)
    assert any("Obtain" in name and "another ACME server, 127.0.0.1:14000" in name
               for name in moved.changed), moved.changed
    assert served_certificate(alice_host)["serial"] != before["serial"]
    assert "https://localhost:14000/" in sh(f"grep certUrl {record}")
    back = deployer("acme-server-back")
    assert_ok(back)
    assert any("Obtain" in name and "localhost:14000" in name for name in back.changed)
    assert "https://127.0.0.1:14000/" in sh(f"grep certUrl {record}")


def sh_result(command: str) -> subprocess.CompletedProcess:
    return vm.ssh(command, check=False)
