"""Where the deploy's fixed resources live on the host, and what it reads back before a run.

Per-person names (units, containers, secrets, vhosts, directories) are derived from the
typed `User` and `Site` in operations/model.py; the fixed, site-wide ones are here, and
`snapshot_args(site)` lists every path, listing and unit the operations compare, so that the
deploy reads them all in one command (operations/snapshot.py).
"""

from __future__ import annotations

from operations.model import Site, ai_secret
from operations.secrets import wanted_names

# nginx
NGINX_AVAILABLE = "/etc/nginx/sites-available"
NGINX_ENABLED = "/etc/nginx/sites-enabled"
VHOST_GLOB = "vscode-*.conf"  # our vhosts, the catch-all included
CATCHALL = "vscode-catchall.conf"
TLS_SNIPPET = "/etc/nginx/snippets/vscode-tls.conf"
LANDING_ROOT = "/var/www/vscode-landing"
LANDING_PAGE = f"{LANDING_ROOT}/404.html"

# Certificates (acme mode)
CERT_SCRIPT = "/usr/local/sbin/vscode-cert"
RENEW_UNIT = "vscode-cert-renew"
SYSTEM_UNITS = "/etc/systemd/system"

# Containers
QUADLET_GLOB = "code-server-*.container"
BOOT_UNIT = "vscode-workspaces.service"
BOOT_SCRIPT = "/usr/local/sbin/vscode-workspaces-start"
OPENCODE_CONFIG = "/etc/vscode/opencode.json"
SECRET_GLOB = "*"

# The image build
UPLOADED_BASE = "/var/tmp/vscode-base-image.tar"
EXTENSIONS_GLOB = "*.vsix"


def snapshot_args(site: Site, packages: list[str], image_context: list[str]) -> dict:
    """The arguments of SnapshotFact: everything the operations compare, for this site."""
    paths = [
        site.workspace_base, site.archive_dir, site.secrets_dir, site.quadlet_dir,
        "/etc/subuid", "/etc/subgid", f"/var/lib/systemd/linger/{site.service_account}",
        OPENCODE_CONFIG, BOOT_SCRIPT, f"{SYSTEM_UNITS}/{BOOT_UNIT}",
        LANDING_ROOT, LANDING_PAGE, TLS_SNIPPET,
        f"{NGINX_AVAILABLE}/{CATCHALL}", f"{NGINX_ENABLED}/{CATCHALL}",
        site.acme_env_file, site.acme_dir, CERT_SCRIPT,
        f"{SYSTEM_UNITS}/{RENEW_UNIT}.service", f"{SYSTEM_UNITS}/{RENEW_UNIT}.timer",
        site.build_dir, f"{site.build_dir}/extensions", f"{site.build_dir}/build-ca.pem",
        *(f"{site.build_dir}/{name}" for name in image_context),
    ]
    for user in site.users:
        paths += [
            site.user_dir(user), site.workspace_dir(user), site.config_dir(user),
            f"{site.quadlet_dir}/{user.quadlet_file}",
            f"{site.secrets_dir}/{user.password_secret}",
            f"{NGINX_AVAILABLE}/{user.vhost_file}", f"{NGINX_ENABLED}/{user.vhost_file}",
        ]
    paths += [f"{site.secrets_dir}/{name}" for name in map(ai_secret, wanted_names(site))]
    return {
        "paths": sorted(set(paths)),
        "listings": [(site.quadlet_dir, QUADLET_GLOB), (NGINX_AVAILABLE, VHOST_GLOB),
                     (NGINX_ENABLED, VHOST_GLOB), (f"{site.build_dir}/extensions", EXTENSIONS_GLOB)],
        "units": ["nginx.service", f"user@{site.service_account_uid}.service", BOOT_UNIT,
                  f"{RENEW_UNIT}.timer"],
        "packages": packages,
        "account": site.service_account,
        "groups": [site.service_account],
        "as_account": site.as_account(""),
        "certificate": site.certificate_file,
    }
