"""nginx: one HTTPS vhost per user; a catch-all that redirects HTTP, shows a 404 landing page
for names under the domain without a workspace, limits login attempts per client address and,
unless another site on the host already does, answers names that are not ours and the bare
address (TLS handshake refused, 404 on plain HTTP); a reload (never a restart) only after
`nginx -t`.

Only files named vscode-*.conf (and snippets/vscode-tls.conf) are ours; every other site on
the host is left untouched. In the tunnel mode our sites are removed and nothing else is done.
"""

from __future__ import annotations

from fnmatch import fnmatch

from pyinfra.api import deploy
from pyinfra.operations import files, server

from operations import ensure, layout
from operations.layout import CATCHALL, LANDING_PAGE, LANDING_ROOT, TLS_SNIPPET, VHOST_GLOB
from operations.layout import NGINX_AVAILABLE as AVAILABLE
from operations.layout import NGINX_ENABLED as ENABLED
from operations.model import REPO, Site, User
from operations.snapshot import Snapshot

TEMPLATES = REPO / "templates"


# Login attempts (POST /login) per client address: a burst for typos, then one a minute.
# code-server's own limiter is one per workspace (2 a minute, plus 12 an hour) and is
# checked before the password; one address stays below it, so a stranger's failures never
# use up the person's own tries.
LOGIN_RATE = {"rate": "1r/m", "burst": 5}

# Our listen sockets, and how nginx spells them in `listen` (normalized by _socket).
HTTP_SOCKETS = {("*", "80"): "80", ("[::]", "80"): "[::]:80"}
TLS_SOCKETS = {("*", "443"): "443", ("[::]", "443"): "[::]:443"}


def _socket(listen: str) -> tuple[str, str] | None:
    """The (address, port) of a `listen` argument: '443 ssl' -> ('*', '443'),
    '[::]:80 default_server' -> ('[::]', '80'), '10.0.0.1' -> ('10.0.0.1', '80')."""
    first = listen.split()[0] if listen.split() else ""
    if first.startswith("unix:"):
        return None
    if first.isdigit():
        return ("*", first)
    if first.startswith("["):
        address, _, port = first.partition("]")
        return (address + "]", port.lstrip(":") or "80")
    address, _, port = first.rpartition(":") if ":" in first else (first, "", "80")
    return ("*" if address in ("*", "0.0.0.0") else address, port)


def free_defaults(snap: Snapshot) -> set[tuple[str, str]]:
    """Our sockets on which no other site declares a default server: there ours answers
    names that are not ours and the bare address. Another site's default stays in charge."""
    ours = {f"{ENABLED}/{CATCHALL}"}
    theirs = {_socket(listen) for path, listen in snap.nginx_defaults
              if path not in ours and not fnmatch(path, f"{ENABLED}/{VHOST_GLOB}")}
    return (set(HTTP_SOCKETS) | set(TLS_SOCKETS)) - theirs


def vhost_values(site: Site, user: User) -> dict:
    return {"person": user.name, "hostname": layout.hostname(site, user), "port": user.port,
            "tls_snippet": TLS_SNIPPET, "login_burst": LOGIN_RATE["burst"],
            "limit_page": layout.LOGIN_LIMIT_PAGE, "limit_uri": layout.LOGIN_LIMIT_URI,
            "retry_after": 60}  # s: LOGIN_RATE lets one more try in a minute


def catchall_values(site: Site, defaults: set[tuple[str, str]]) -> dict:
    return {"domain": site.domain, "landing_root": LANDING_ROOT, "tls_snippet": TLS_SNIPPET,
            "http_defaults": [v for k, v in HTTP_SOCKETS.items() if k in defaults],
            "tls_defaults": [v for k, v in TLS_SOCKETS.items() if k in defaults],
            "login_rate": LOGIN_RATE}


def tls_values(site: Site) -> dict:
    return {"domain": site.domain, "certificate": layout.certificate_file(site),
            "certificate_key": layout.certificate_key_file(site)}


# Ours in nginx's folders, relative to / (tar's view); globs, expanded by the shell.
OURS = tuple(path.lstrip("/") for path in (
    f"{AVAILABLE}/{VHOST_GLOB}", f"{AVAILABLE}/{CATCHALL}", f"{ENABLED}/{VHOST_GLOB}",
    f"{ENABLED}/{CATCHALL}", TLS_SNIPPET))
LAST_GOOD = layout.NGINX_LAST_GOOD


def save_last_good() -> str:
    """Shell: keep our nginx files as they are now (they passed `nginx -t`)."""
    return (f"install -d -m 700 {layout.NGINX_STATE} && cd / &&"
            f" tar -cf {LAST_GOOD}.new -T /dev/null $(ls -d {' '.join(OURS)} 2>/dev/null)"
            f" && mv {LAST_GOOD}.new {LAST_GOOD}")


def check_or_roll_back() -> str:
    """Shell: `nginx -t`; if it fails, put our last good files back and fail loudly."""
    return (
        "if ! out=$(nginx -t 2>&1); then"
        f" if [ -f {LAST_GOOD} ]; then cd / && rm -f {' '.join(OURS)} && tar -xf {LAST_GOOD};"
        " back='our files are back as they were after the last good deploy';"
        " else back='there is no last good copy of our files to go back to'; fi;"
        " if nginx -t -q 2>/dev/null; then where='it was this change';"
        " else where='nginx -t still fails with our last good files: the problem is outside"
        " them'; fi;"
        " echo \"ERROR: nginx -t refused the new configuration ($where); $back. nginx was not"
        " reloaded and keeps serving as before. nginx says:\" >&2;"
        " echo \"$out\" >&2; exit 1; fi"
    )


def _site(snap: Snapshot, name: str, template: str, **values) -> list:
    """A file in sites-available plus its sites-enabled link; returns the operations."""
    return [
        ensure.template(snap, f"nginx site {name}", str(TEMPLATES / template),
                        f"{AVAILABLE}/{name}", **values),
        ensure.link(snap, f"Enable {name}", f"{ENABLED}/{name}", f"{AVAILABLE}/{name}"),
    ]


@deploy("Reverse proxy")
def proxy(site: Site, snap: Snapshot, certificate_changed: bool = False) -> None:
    ops = []
    ours: set[str] = set()
    if site.uses_proxy:
        ops += [
            ensure.directory(snap, "Landing page folder", LANDING_ROOT, "755"),
            ensure.template(snap, "Landing page for unknown names",
                            str(TEMPLATES / "var/www/vscode-landing/404.html.j2"), LANDING_PAGE,
                            domain=site.domain),
            ensure.template(snap, "Page for too many passwords from one address",
                            str(TEMPLATES / "var/www/vscode-landing/429.html.j2"),
                            layout.LOGIN_LIMIT_PAGE, domain=site.domain),
            ensure.template(snap, "TLS settings for our sites",
                            str(TEMPLATES / "etc/nginx/snippets/vscode-tls.conf.j2"),
                            TLS_SNIPPET, **tls_values(site)),
            *_site(snap, CATCHALL, "etc/nginx/sites-available/vscode-catchall.conf.j2",
                   **catchall_values(site, free_defaults(snap))),
        ]
        for user in site.users:
            ops += _site(snap, layout.vhost_file(user), "etc/nginx/sites-available/vscode-user.conf.j2",
                         **vhost_values(site, user))
        ours = {CATCHALL} | {layout.vhost_file(u) for u in site.users}

    available, enabled = snap.listing(AVAILABLE, VHOST_GLOB), snap.listing(ENABLED, VHOST_GLOB)
    for name in sorted((set(available) | set(enabled)) - ours):
        if name in enabled:
            ops.append(files.link(name=f"Disable {name}", path=f"{ENABLED}/{name}", present=False))
        if name in available:
            ops.append(files.file(name=f"Remove {name}", path=f"{AVAILABLE}/{name}", present=False))
    if certificate_changed or any(op.will_change for op in ops):
        # A config that fails `nginx -t` is never loaded: the running nginx keeps serving,
        # and our files go back to the last good ones, so that the next restart of nginx
        # (a reboot) does not load them either. In tunnel mode our sites are gone, and
        # nginx may serve other sites or none.
        start = "systemctl start nginx" if site.uses_proxy else "true"
        server.shell(
            name="Check nginx config, then reload (never restart)",
            commands=[check_or_roll_back(),
                      f"if systemctl is-active -q nginx; then systemctl reload nginx; else {start}; fi",
                      save_last_good()],
        )
    elif not snap.exists(LAST_GOOD):
        # Servers deployed before the rollback existed: keep their (good) files now.
        server.shell(name="Keep a copy of the last good nginx files", commands=[save_last_good()])
    if not site.uses_proxy:
        return
    ensure.service(snap, "nginx runs and starts at boot", "nginx.service", running=True,
                   enabled=True)
