"""What the lab VM has besides a fresh VPS: an ACME CA and DNS stand-in, and a foreign site.

`prepare()` runs lab/vps-fixtures.sh in the VM (idempotent) before the first deploy:
pebble (a real ACME server) for Let's Encrypt, pebble-challtestsrv (a real DNS server with an
HTTP API) for the DNS provider, and an nginx site of someone else's that must survive us.
"""

from __future__ import annotations

from pathlib import Path

from lab import vm
from lab.common import log

SCRIPT = Path(__file__).with_name("vps-fixtures.sh")
# Every root CA pebble has used in this VM (it makes a new one at each start).
PEBBLE_ROOTS = "/etc/vscode-lab/pebble-roots.pem"
# Data for group_data/lab.py: how lego reaches pebble and the DNS stand-in.
ACME_SERVER = "https://127.0.0.1:14000/dir"
ACME_SERVER_CA = "/etc/vscode-lab/listener-ca.pem"
DNS_HOOK = "/usr/local/lib/vscode-lab/challtestsrv-dns"
DNS_SERVER = "127.0.0.1:8053"
# A webhook receiver standing in for ntfy or Slack: every POST body, one per line.
ALERT_WEBHOOK = "http://127.0.0.1:9099/alert"
ALERTS_FILE = "/var/lib/vscode-lab/alerts.jsonl"
FOREIGN_SITE = "shop.example.org"
FOREIGN_SITE_BODY = "the shop that was here before"


def prepare() -> None:
    log("lab fixtures: pebble, pebble-challtestsrv and a foreign nginx site")
    vm.ssh("sh -s", input=SCRIPT.read_text(), timeout=1200)


def pebble_roots(dest: Path) -> Path:
    """Copy pebble's root CAs out of the VM, for clients on this machine (Chromium)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(vm.ssh(f"cat {PEBBLE_ROOTS}").stdout)
    return dest
