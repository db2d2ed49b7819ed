"""nginx: one HTTPS vhost per user, a catch-all that redirects HTTP and shows a 404 landing
page, and a reload (never a restart) only after `nginx -t`.

Only files named vscode-*.conf (and snippets/vscode-tls.conf) are ours; every other site on
the host is left untouched. In the tunnel mode our sites are removed and nothing else is done.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd

from operations.facts import DirectoryListing
from operations.model import REPO, Site, User

TEMPLATES = REPO / "templates"
AVAILABLE = "/etc/nginx/sites-available"
ENABLED = "/etc/nginx/sites-enabled"
LANDING_ROOT = "/var/www/vscode-landing"
CATCHALL = "vscode-catchall.conf"
TLS_SNIPPET = "/etc/nginx/snippets/vscode-tls.conf"


def vhost_values(site: Site, user: User) -> dict:
    return {"person": user.name, "hostname": site.hostname(user), "port": user.port,
            "tls_snippet": TLS_SNIPPET}


def catchall_values(site: Site) -> dict:
    return {"domain": site.domain, "landing_root": LANDING_ROOT, "tls_snippet": TLS_SNIPPET}


def tls_values(site: Site) -> dict:
    return {"domain": site.domain, "certificate": site.certificate_file,
            "certificate_key": site.certificate_key_file}


def _site(name: str, template: str, **values) -> list:
    """A file in sites-available plus its sites-enabled link; returns the operations."""
    return [
        files.template(name=f"nginx site {name}", src=str(TEMPLATES / template),
                       dest=f"{AVAILABLE}/{name}", user="root", group="root", mode="644",
                       **values),
        files.link(name=f"Enable {name}", path=f"{ENABLED}/{name}",
                   target=f"{AVAILABLE}/{name}"),
    ]


@deploy("Reverse proxy")
def proxy(site: Site, certificate_changed: bool = False) -> None:
    ops = []
    ours: set[str] = set()
    if site.uses_proxy:
        ops += [
            files.template(name="Landing page for unknown names",
                           src=str(TEMPLATES / "var/www/vscode-landing/404.html.j2"),
                           dest=f"{LANDING_ROOT}/404.html", user="root", group="root",
                           mode="644", create_remote_dir=True, domain=site.domain),
            files.template(name="TLS settings for our sites",
                           src=str(TEMPLATES / "etc/nginx/snippets/vscode-tls.conf.j2"),
                           dest=TLS_SNIPPET, user="root", group="root", mode="644",
                           **tls_values(site)),
            *_site(CATCHALL, "etc/nginx/sites-available/vscode-catchall.conf.j2",
                   **catchall_values(site)),
        ]
        for user in site.users:
            ops += _site(user.vhost_file, "etc/nginx/sites-available/vscode-user.conf.j2",
                         **vhost_values(site, user))
        ours = {CATCHALL} | {u.vhost_file for u in site.users}

    for name in sorted(set(host.get_fact(DirectoryListing, path=AVAILABLE, pattern="vscode-*.conf"))
                       - ours):
        ops += [
            files.link(name=f"Disable {name}", path=f"{ENABLED}/{name}", present=False),
            files.file(name=f"Remove {name}", path=f"{AVAILABLE}/{name}", present=False),
        ]
    if certificate_changed or any(op.will_change for op in ops):
        # A config that fails `nginx -t` is never loaded: the running nginx keeps serving.
        # In tunnel mode our sites are gone, and nginx may serve other sites or none.
        start = "systemctl start nginx" if site.uses_proxy else "true"
        server.shell(
            name="Check nginx config, then reload (never restart)",
            commands=["nginx -t -q",
                      f"if systemctl is-active -q nginx; then systemctl reload nginx; else {start}; fi"],
        )
    if not site.uses_proxy:
        return
    systemd.service(name="nginx runs and starts at boot", service="nginx.service",
                    running=True, enabled=True)
