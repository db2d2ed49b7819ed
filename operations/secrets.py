"""Shared AI provider keys: read on the deploying machine, never from the repo.

Sources, later ones winning: the file named by $VSCODE_SECRETS_FILE (default: secrets.env
next to deploy.py, git-ignored), then the environment. Keep the file encrypted at rest with
sops and run the deploy under `sops exec-env secrets.enc.env 'pyinfra ...'` (see README).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from operations.model import REPO, Site

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


def read_ai_keys(site: Site, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The shared keys that are provided, by env name. Missing ones are simply absent."""
    path = Path(environ.get("VSCODE_SECRETS_FILE") or DEFAULT_FILE)
    values = parse_env_file(path.read_text()) if path.is_file() else {}
    values.update({k: v for k, v in environ.items() if k in wanted_names(site)})
    return {k: values[k] for k in wanted_names(site) if values.get(k)}
