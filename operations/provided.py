"""What the deploying machine provides, never the repo: each person's password hash, the
shared AI provider keys and the DNS provider's credentials for ACME DNS-01, read from the
environment or a secrets file.

Sources, later ones winning: the file named by $VSCODE_SECRETS_FILE (default: secrets.env
next to deploy.py, git-ignored), then the environment. Keep the file encrypted at rest with
sops and run the deploy under `sops exec-env secrets.enc.env 'pyinfra ...'` (see README).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from operations.model import (
    ALERT_WEBHOOK_VARIABLE,
    ARGON2_RE,
    BACKUP_PASSWORD_VARIABLE,
    REPO,
    URL_RE,
    ConfigError,
    Site,
    ai_secret,
    password_variable,
)

DEFAULT_FILE = REPO / "secrets.env"


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines, comments and an optional `export ` are allowed."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def wanted_names(site: Site) -> list[str]:
    names = list(site.ai_keys)
    for user in site.users:
        names += [k for k in user.ai_keys or () if k not in names]
    return names


def read_secrets(names: list[str], environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The named secrets that are provided and not empty. Missing ones are simply absent."""
    path = Path(environ.get("VSCODE_SECRETS_FILE") or DEFAULT_FILE)
    values = parse_env_file(path.read_text()) if path.is_file() else {}
    values.update({k: v for k, v in environ.items() if k in names})
    # A stray line break (`export KEY="$(cat file)"` keeps none, a pasted value may) would
    # become part of the secret.
    return {k: values[k].strip() for k in names if values.get(k, "").strip()}


def read_ai_keys(site: Site, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The shared AI keys that are provided, by env name."""
    return read_secrets(wanted_names(site), environ)


def read_dns_credentials(site: Site, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The DNS provider's credentials for lego; raises ConfigError if one is missing."""
    if site.tls_mode != "acme":
        return {}
    found = read_secrets(list(site.acme_dns_credentials), environ)
    missing = [k for k in site.acme_dns_credentials if k not in found]
    if missing:
        raise ConfigError([
            f"acme_dns_credentials: {name} (for the {site.acme_dns_provider!r} DNS provider) "
            "is not set. Fix: export it, or put it in secrets.env (see the README's secrets "
            "section); it never goes into group data." for name in missing
        ])
    return found


def read_backup_secrets(site: Site, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The restic repository's password and its backend's credentials, as restic's
    environment names them; raises ConfigError naming every missing one."""
    found = read_secrets([BACKUP_PASSWORD_VARIABLE, *site.backup_credentials], environ)
    problems = []
    if BACKUP_PASSWORD_VARIABLE not in found:
        problems.append(
            f"{BACKUP_PASSWORD_VARIABLE}: the backup repository's password is not set. Fix: "
            f"add a line `{BACKUP_PASSWORD_VARIABLE}=<a long random password>` to secrets.env "
            "(e.g. from `openssl rand -base64 32`) or export it, and keep a copy away from "
            "the server: without it no backup can be read.")
    problems += [
        f"backup_credentials: {name} (for the backup repository) is not set. Fix: export it, "
        "or put it in secrets.env; it never goes into group data."
        for name in site.backup_credentials if name not in found]
    if problems:
        raise ConfigError(problems)
    values = {"RESTIC_PASSWORD": found.pop(BACKUP_PASSWORD_VARIABLE)}
    return values | found


def read_alert_webhook(environ: Mapping[str, str] = os.environ) -> str | None:
    """The webhook failures are posted to: a URL, "none" (alerts off on purpose), or None
    (not provided here); raises ConfigError for anything else."""
    value = read_secrets([ALERT_WEBHOOK_VARIABLE], environ).get(ALERT_WEBHOOK_VARIABLE)
    if value is None or value == "none" or URL_RE.fullmatch(value):
        return value
    raise ConfigError([
        f"{ALERT_WEBHOOK_VARIABLE}: is not an http(s) URL. Fix: give the webhook's URL (ntfy "
        "topic, Slack or Matrix hook), or 'none' to turn alerts off."])


def check_alerts_kept(webhook: str | None, on_host: bool) -> None:
    """Alerts configured on the server, but no webhook provided on this machine: stop, as
    for the AI keys, instead of turning them off by accident."""
    if webhook is None and on_host:
        raise ConfigError([
            f"{ALERT_WEBHOOK_VARIABLE}: the server posts alerts to a webhook, but this machine "
            "does not provide it. Fix: export it or put it in secrets.env; to turn alerts off "
            f"on purpose, set {ALERT_WEBHOOK_VARIABLE}=none."])


def read_password_hashes(site: Site, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Each person's argon2 hash, by name; raises ConfigError naming every missing or bad one.

    The hash is a secret: code-server takes the hash itself as the session cookie."""
    names = {password_variable(u.name): u.name for u in site.users}
    found = read_secrets(list(names), environ)
    problems = []
    for variable, name in names.items():
        value = found.get(variable)
        if value is None:
            problems.append(
                f"{variable}: the password hash of {name!r} is not set. Fix: run "
                f"`python3 -m tools.adduser {name}` and put the line it prints into secrets.env "
                "(or export it); it never goes into group data.")
        elif not value.startswith("$argon2"):
            problems.append(
                f"{variable}: looks like a plaintext password, not an argon2 hash. Fix: put "
                f"the hash from `python3 -m tools.adduser {name}` there instead.")
        elif not ARGON2_RE.fullmatch(value):
            problems.append(
                f"{variable}: is not a well-formed argon2 hash (in a shell, quote it in single "
                f"quotes: it contains $). Fix: copy it again from `python3 -m tools.adduser {name}`.")
    if problems:
        raise ConfigError(problems)
    return {name: found[variable] for variable, name in names.items()}


def check_keys_kept(site: Site, keys: Mapping[str, str], on_host: set[str]) -> None:
    """A shared key that the server has and the group data still wants, but that this machine
    does not provide, stops the deploy: a colleague's laptop without secrets.env must not strip
    the key from everyone. Removing a key is a deliberate change of group data."""
    missing = [name for name in wanted_names(site)
               if ai_secret(name) in on_host and name not in keys]
    if missing:
        raise ConfigError([
            f"ai_keys: {name} is on the server but not provided on this machine. Fix: export "
            "it or put it in secrets.env. To remove it from every workspace on purpose, take "
            f"it out of ai_keys (and out of every person's ai_keys) in group data."
            for name in missing
        ])
