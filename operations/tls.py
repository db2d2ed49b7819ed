"""The wildcard certificate: lego and DNS-01, a renewal timer, and nothing in other modes.

acme:        lego obtains *.<domain> and <domain> once (and again only if the names change);
             vscode-cert-renew.timer renews it. nginx is reloaded only when lego really
             renewed (its --renew-hook), after `nginx -t`; a failed renewal changes no file.
certificate: the files named in tls_certificate and tls_certificate_key are used as they are.
tunnel:      no certificate; a renewal timer left from the acme mode is stopped.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from urllib.parse import urlsplit

from pyinfra.api import deploy
from pyinfra.operations import server

from operations import ensure, layout
from operations.layout import CERT_SCRIPT as SCRIPT
from operations.layout import RENEW_UNIT
from operations.layout import SYSTEM_UNITS as UNIT_DIR
from operations.model import REPO, Site
from operations.snapshot import Snapshot

TEMPLATES = REPO / "templates"
RENEW_DAYS = 30  # renew when fewer days than this are left, as Let's Encrypt suggests


def lego_args(site: Site) -> str:
    """The lego options both `run` and `renew` need, shell-quoted for the script."""
    args = ["--accept-tos", "--email", site.acme_email, "--server", site.acme_server,
            "--path", layout.ACME_DIR, "--dns", site.acme_dns_provider]
    for name in site.certificate_names:
        args += ["--domains", name]
    for resolver in site.acme_dns_resolvers:
        args += ["--dns.resolvers", resolver]
    if not site.acme_dns_propagation_check:
        args.append("--dns.disable-cp")
    return shlex.join(str(a) for a in args)


def acme_env(site: Site, credentials: Mapping[str, str]) -> str:
    """The root-only environment lego runs with: provider settings and credentials."""
    values = dict(site.acme_dns_settings)
    if site.acme_server_ca:
        values["LEGO_CA_CERTIFICATES"] = site.acme_server_ca
    values.update(credentials)
    return "".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(values.items()))


def script_values(site: Site) -> dict:
    """What templates/usr/local/sbin/vscode-cert.j2 needs."""
    return {"lego_args": lego_args(site), "env_file": layout.ACME_ENV_FILE,
            "renew_days": RENEW_DAYS, "domain": site.domain,
            "certificate": layout.certificate_file(site),
            "certificate_key": layout.certificate_key_file(site)}


def timer_values(site: Site) -> dict:
    """What the renewal service and timer templates need."""
    return {"domain": site.domain, "renew_days": RENEW_DAYS, "script": SCRIPT,
            "on_failure": layout.on_failure()}


def certificate_due(site: Site, snap: Snapshot) -> str | None:
    """Why the deploy must obtain a certificate now, or None: it is missing or covers other
    names, another ACME server issued it (a move from staging to production), or fewer than
    RENEW_DAYS days are left (the renewal timer has been failing, or the server was off)."""
    if snap.certificate_names != sorted(site.certificate_names):
        return "missing, or for other names" if snap.certificate_names else "none yet"
    issuer = urlsplit(snap.certificate_url).netloc
    if issuer and issuer != urlsplit(site.acme_server).netloc:
        return f"issued by another ACME server, {issuer}"
    if snap.certificate_end is not None and snap.now:
        days = (snap.certificate_end - snap.now) // 86400
        if days < RENEW_DAYS:
            return "expired" if days < 0 else f"{days} days left"
    return None


@deploy("TLS certificate")
def tls(site: Site, snap: Snapshot, credentials: Mapping[str, str]) -> bool:
    """Returns True when this run obtains a new certificate (nginx then reloads)."""
    if site.tls_mode != "acme":
        if snap.exists(f"{UNIT_DIR}/{RENEW_UNIT}.timer"):
            ensure.service(snap, "Stop the ACME renewal timer (not in acme mode)",
                           f"{RENEW_UNIT}.timer", running=False, enabled=False)
        return False

    ensure.secret(snap, "DNS provider credentials for lego (root-only)", layout.ACME_ENV_FILE,
                  acme_env(site, credentials), layout.SECRETS_DIR)
    ensure.directory(snap, "lego's state (root-only)", layout.ACME_DIR, "700")
    ensure.template(snap, "vscode-cert: lego run / renew / reload",
                    str(TEMPLATES / "usr/local/sbin/vscode-cert.j2"), SCRIPT, mode="755",
                    **script_values(site))

    obtained = False
    why = certificate_due(site, snap)
    if why:
        # Only then: every run would otherwise ask the CA again. Renewal is the timer's job.
        server.shell(name=f"Obtain the certificate for {', '.join(site.certificate_names)}"
                          f" ({why}; lego, DNS-01, takes a minute or two)",
                     commands=[f"{SCRIPT} run"])
        obtained = True

    units = [
        ensure.template(snap, f"{RENEW_UNIT}.{kind}",
                        str(TEMPLATES / f"etc/systemd/system/{RENEW_UNIT}.{kind}.j2"),
                        f"{UNIT_DIR}/{RENEW_UNIT}.{kind}", **timer_values(site))
        for kind in ("service", "timer")
    ]
    ensure.service(snap, "Renewal timer runs and starts at boot", f"{RENEW_UNIT}.timer",
                   running=True, enabled=True,
                   daemon_reload=any(unit.will_change for unit in units))
    return obtained
