# The lab VM (`python3 -m lab up`): a disposable Debian 13 VPS on loopback.
# These users exist only there; their passwords and hashes are in lab/site.py on purpose,
# because the tests log in with them (the lab's deploys pass the hashes in the environment,
# as secrets.env does on a real server). Never reuse this file for a real server.
#
# Plain values only: the lab tools make the files named here (./run-lab, ./run-tests), and
# tests/unit/test_pins.py checks that these values agree with the lab's own.

import os

_CACHE = os.environ.get("VSCODE_LAB_CACHE") or os.path.expanduser("~/.cache/vscode-lab")

domain = "lab.test"

users = {
    "alice": {"port": 8081},
    "bob": {"port": 8082},
}

# No registry and no Open VSX are reachable from the lab: the stand-in for
# codercom/code-server (`python3 -m lab base-image`) is loaded from an archive, and the
# stand-in opencode extension (`python3 -m lab vsix`) is built into the image from a file.
image_base = "localhost/code-server-standin:4.139.1"
image_base_archive = f"{_CACHE}/base-image.tar.zst"
image_extension_vsix = f"{_CACHE}/extension/sst-dev.opencode-1.18.33.vsix"
# Outbound HTTPS here goes through a TLS-intercepting proxy that this machine trusts.
image_build_ca = "/etc/ssl/certs/ca-certificates.crt"

# TLS as in production, from a real ACME server in the VM: pebble stands in for Let's
# Encrypt and pebble-challtestsrv for the DNS provider (lab/vps-fixtures.sh sets both up).
# lego's `exec` provider publishes the DNS-01 TXT record through the stand-in's API.
acme_email = "ops@lab.test"
acme_server = "https://127.0.0.1:14000/dir"
acme_server_ca = "/etc/vscode-lab/listener-ca.pem"
acme_dns_provider = "exec"
acme_dns_settings = {
    "EXEC_PATH": "/usr/local/lib/vscode-lab/challtestsrv-dns",
    "EXEC_POLLING_INTERVAL": "1",
    "EXEC_PROPAGATION_TIMEOUT": "60",
    "EXEC_SEQUENCE_INTERVAL": "1",  # the wildcard and the apex share one TXT name
}
acme_dns_resolvers = ["127.0.0.1:8053"]
# The stand-in is no real authoritative DNS: there are no name servers to poll.
acme_dns_propagation_check = False
