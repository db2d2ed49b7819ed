"""Render the deploy's templates exactly as pyinfra's files.template does."""

from __future__ import annotations

from pyinfra.api.util import get_template

from operations.backup import script_values as backup_script_values
from operations.backup import unit_values as backup_unit_values
from operations.boot import boot_script_values, boot_unit_values
from operations.containers import rollout_values, unit_text, unit_values
from operations.layout import BOOT_UNIT, RENEW_UNIT
from operations.model import REPO, Site
from operations.proxy import HTTP_SOCKETS, TLS_SOCKETS, catchall_values, tls_values, vhost_values
from operations.tls import script_values, timer_values


def render(path: str, **values) -> str:
    """pyinfra's own template loader and settings (StrictUndefined, trailing newline)."""
    return get_template(str(REPO / "templates" / path)).render(**values)


def quadlet(site: Site, user, keys=None, hashes=None, notify: bool = False) -> str:
    return unit_text(unit_values(site, user, keys, hashes, notify))[0]


def rollout_script(site: Site) -> str:
    return render("usr/local/sbin/vscode-rollout.j2", **rollout_values(site))


def vhost(site: Site, user) -> str:
    return render("etc/nginx/sites-available/vscode-user.conf.j2", **vhost_values(site, user))


def catchall(site: Site, defaults=None) -> str:
    """defaults: the sockets free for our default servers (default: all of them)."""
    if defaults is None:
        defaults = set(HTTP_SOCKETS) | set(TLS_SOCKETS)
    return render("etc/nginx/sites-available/vscode-catchall.conf.j2",
                  **catchall_values(site, defaults))


def tls_snippet(site: Site) -> str:
    return render("etc/nginx/snippets/vscode-tls.conf.j2", **tls_values(site))


def cert_script(site: Site) -> str:
    return render("usr/local/sbin/vscode-cert.j2", **script_values(site))


def renew_unit(site: Site, kind: str) -> str:
    return render(f"etc/systemd/system/{RENEW_UNIT}.{kind}.j2", **timer_values(site))


def landing(site: Site) -> str:
    return render("var/www/vscode-landing/404.html.j2", domain=site.domain)


def boot_script(site: Site) -> str:
    return render("usr/local/sbin/vscode-workspaces-start.j2", **boot_script_values(site))


def boot_unit(site: Site) -> str:
    return render(f"etc/systemd/system/{BOOT_UNIT}.j2", **boot_unit_values(site))


def backup_script(site: Site, **overrides) -> str:
    return render("usr/local/sbin/vscode-backup.j2", **(backup_script_values(site) | overrides))


def backup_unit(unit: str, kind: str) -> str:
    return render(f"etc/systemd/system/{unit}.{kind}.j2", **backup_unit_values(unit))
