"""What the deploying machine provides, never the repo: the shared AI provider keys and the
DNS provider's credentials for ACME DNS-01, read from the environment or a secrets file.

Sources, later ones winning: the file named by $VSCODE_SECRETS_FILE (default: secrets.env
next to deploy.py, git-ignored), then the environment. Keep the file encrypted at rest with
sops and run the deploy under `sops exec-env secrets.enc.env 'pyinfra ...'` (see README).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from operations.model import REPO, ConfigError, Site

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
    return {k: values[k] for k in names if values.get(k)}


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
