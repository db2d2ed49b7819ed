#!/bin/sh
# What the lab VM needs besides a fresh VPS, installed before the first deploy (idempotent):
#  1. pebble, a real ACME server, standing in for Let's Encrypt on 127.0.0.1:14000;
#  2. pebble-challtestsrv, a DNS server with an HTTP API, standing in for the DNS provider:
#     lego's `exec` provider calls challtestsrv-dns, which sets the TXT record there;
#  3. an nginx site that was on the "server" before us, which the deploy must leave alone;
#  4. a webhook receiver standing in for ntfy or Slack on 127.0.0.1:9099: every POST body
#     is appended to /var/lib/vscode-lab/alerts.jsonl, one per line.
# pebble makes a new root CA at every start: each start appends it to pebble-roots.pem, so
# the file verifies every certificate pebble has issued in this VM.
set -eu
LAB=/etc/vscode-lab
LIB=/usr/local/lib/vscode-lab
export DEBIAN_FRONTEND=noninteractive

missing=""
for cmd in pebble:pebble nginx:nginx curl:curl openssl:openssl; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || missing="$missing ${cmd#*:}"
done
if [ -n "$missing" ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing ca-certificates >/dev/null
fi
mkdir -p "$LAB" "$LIB"

# pebble's own HTTPS API needs a certificate; lego trusts it through LEGO_CA_CERTIFICATES.
if [ ! -s "$LAB/listener-ca.pem" ]; then
    cd "$LAB"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=vscode lab: pebble API CA" -keyout listener-ca.key -out listener-ca.pem \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
        -keyout listener.key -out listener.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > listener.ext
    openssl x509 -req -in listener.csr -CA listener-ca.pem -CAkey listener-ca.key \
        -CAcreateserial -days 3650 -extfile listener.ext -out listener.pem 2>/dev/null
    cd /
fi
cat > "$LAB/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
  "certificate": "$LAB/listener.pem", "privateKey": "$LAB/listener.key",
  "httpPort": 5002, "tlsPort": 5001, "ocspResponderURL": "",
  "externalAccountBindingRequired": false}}
EOF

cat > "$LIB/challtestsrv-dns" <<'EOF'
#!/bin/sh
# lego's exec DNS provider: `present|cleanup FQDN VALUE` -> pebble-challtestsrv's HTTP API.
set -eu
case "$1" in
present) body="{\"host\":\"$2\",\"value\":\"$3\"}"; path=set-txt ;;
cleanup) body="{\"host\":\"$2\"}"; path=clear-txt ;;
*) exit 0 ;;
esac
exec curl -fsS -X POST -d "$body" "http://127.0.0.1:8055/$path"
EOF
cat > "$LIB/save-pebble-root" <<EOF
#!/bin/sh
# Append the root CA of the pebble that just started to $LAB/pebble-roots.pem.
set -eu
for i in \$(seq 60); do
    if curl -fsS --cacert $LAB/listener-ca.pem https://127.0.0.1:15000/roots/0 \
        -o $LAB/pebble-root.new 2>/dev/null; then
        touch $LAB/pebble-roots.pem
        grep -qF "\$(sed -n 2p $LAB/pebble-root.new)" $LAB/pebble-roots.pem \
            || cat $LAB/pebble-root.new >> $LAB/pebble-roots.pem
        exit 0
    fi
    sleep 1
done
echo "pebble's management API did not answer" >&2
exit 1
EOF
chmod 755 "$LIB/challtestsrv-dns" "$LIB/save-pebble-root"

doh=""
pebble-challtestsrv -help 2>&1 | grep -q -- '-doh' && doh="-doh ''"
cat > /etc/systemd/system/lab-challtestsrv.service <<EOF
[Unit]
Description=vscode lab: DNS server standing in for the DNS provider (pebble-challtestsrv)
[Service]
ExecStart=/bin/sh -c "exec pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 '' -dns01 127.0.0.1:8053 -management 127.0.0.1:8055 -http01 '' -https01 '' -tlsalpn01 '' $doh"
[Install]
WantedBy=multi-user.target
EOF
cat > /etc/systemd/system/lab-pebble.service <<EOF
[Unit]
Description=vscode lab: ACME server standing in for Let's Encrypt (pebble)
After=lab-challtestsrv.service
Wants=lab-challtestsrv.service
[Service]
# No reuse of valid authorizations: every order proves control of the DNS again.
Environment=PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0
ExecStart=/usr/bin/pebble -config $LAB/pebble.json -dnsserver 127.0.0.1:8053
ExecStartPost=$LIB/save-pebble-root
[Install]
WantedBy=multi-user.target
EOF
mkdir -p /var/lib/vscode-lab
cat > "$LIB/alert-receiver" <<'PY'
#!/usr/bin/python3
import http.server
import sys


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(sys.argv[1], "ab") as out:
            out.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", 9099), Receiver).serve_forever()
PY
chmod 755 "$LIB/alert-receiver"
cat > /etc/systemd/system/lab-alerts.service <<UNIT
[Unit]
Description=vscode lab: webhook receiver standing in for ntfy or Slack
[Service]
ExecStart=$LIB/alert-receiver /var/lib/vscode-lab/alerts.jsonl
[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable -q --now lab-challtestsrv.service lab-pebble.service lab-alerts.service

# A site that was here before us: a shop on another domain. The deploy must not touch it.
if [ ! -e /etc/nginx/sites-available/shop.conf ]; then
    cat > /etc/nginx/sites-available/shop.conf <<'EOF'
# Not ours: a site the server had before the vscode deploy.
server {
    listen 80;
    listen [::]:80;
    server_name shop.example.org;
    location / {
        default_type text/plain;
        return 200 "the shop that was here before\n";
    }
}
EOF
    ln -sf ../sites-available/shop.conf /etc/nginx/sites-enabled/shop.conf
    nginx -t -q
    systemctl reload nginx
fi
