"""One source for each default and pin, and the places that must repeat it agree with it."""

from __future__ import annotations

import json
import re
import runpy

from lab import base_image, fixtures
from operations.model import (
    PRODUCTION_BASE_IMAGE,
    REPO,
    SEED_LIMITS,
    SITE_KEYS,
    USER_KEYS,
    Site,
    format_size,
)

DOCKERFILE = (REPO / "files/Dockerfile").read_text()
LAB_DATA = runpy.run_path(str(REPO / "group_data/lab.py"))


def dockerfile_arg(name: str) -> str:
    return re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.M).group(1)


def test_code_server_version_is_pinned_once_and_the_lab_agrees():
    version = dockerfile_arg("BASE_IMAGE").rsplit(":", 1)[1]
    assert PRODUCTION_BASE_IMAGE == dockerfile_arg("BASE_IMAGE")
    assert base_image.CODE_SERVER_VERSION == version
    assert base_image.IMAGE_TAG == LAB_DATA["image_base"]
    containerfile = (REPO / "lab/base-image/Containerfile").read_text()
    assert set(re.findall(r"^ARG CODE_SERVER_VERSION=(\S+)$", containerfile, re.M)) == {version}


def test_node_and_extension_versions_agree():
    assert base_image.NODE_VERSION == dockerfile_arg("NODE_VERSION")
    extension = json.loads((REPO / "lab/extension/package.json").read_text())
    assert extension["version"] == dockerfile_arg("OPENCODE_EXTENSION_VERSION")
    name = f"{extension['publisher']}.{extension['name']}-{extension['version']}.vsix"
    assert LAB_DATA["image_extension_vsix"].endswith(f"/extension/{name}")


def test_lab_group_data_names_what_the_lab_builds():
    assert LAB_DATA["image_base_archive"].endswith("/" + base_image.stable_archive().name)
    assert LAB_DATA["acme_server"] == fixtures.ACME_SERVER
    assert LAB_DATA["acme_server_ca"] == fixtures.ACME_SERVER_CA
    assert LAB_DATA["acme_dns_settings"]["EXEC_PATH"] == fixtures.DNS_HOOK
    assert LAB_DATA["acme_dns_resolvers"] == [fixtures.DNS_SERVER]


# What the README's data-key table must show as each key's default.
README_DEFAULTS = {
    "workspace_base": Site.workspace_base,
    "service_account": Site.service_account,
    "service_account_uid": str(Site.service_account_uid),
    "subid_start": str(Site.subid_start),
    "subid_count": str(Site.subid_count),
    "memory_high": format_size(SEED_LIMITS.memory_high),
    "memory_max": format_size(SEED_LIMITS.memory_max),
    "cpus": str(SEED_LIMITS.cpus),
    "pids_limit": str(SEED_LIMITS.pids),
    "image_base": PRODUCTION_BASE_IMAGE,
    "image_name": Site.image_name,
    "ai_keys": str(list(Site.ai_keys)),
    "tls_mode": Site.tls_mode,
    "acme_dns_provider": Site.acme_dns_provider,
    "acme_dns_propagation_check": str(Site.acme_dns_propagation_check),
    "backup_repository": Site.backup_repository,
    "backup_credentials": str(list(Site.backup_credentials)),
    "backup_keep_daily": str(Site.backup_keep_daily),
    "backup_keep_weekly": str(Site.backup_keep_weekly),
    "backup_keep_monthly": str(Site.backup_keep_monthly),
}


def readme_rows() -> tuple[dict[str, str], set[str]]:
    """(site key -> default cell, user keys), from the README's data-key table."""
    text = (REPO / "README.md").read_text()
    table = text[text.index("## Data keys"):]
    rows, user_keys = {}, set()
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        keys = re.findall(r"`(?:users\[n\])?\.?([a-z_]+)`", cells[0])
        if cells[0].startswith("`users[n]."):
            user_keys.update(keys)
        else:
            rows.update(dict.fromkeys(keys, cells[2]))
    return rows, user_keys


def test_readme_lists_every_key_with_the_models_default():
    rows, user_keys = readme_rows()
    missing = sorted(SITE_KEYS - set(rows)) + sorted(USER_KEYS - user_keys)
    assert not missing, f"README's data-key table lacks {missing}"
    wrong = {key: (rows[key], want) for key, want in README_DEFAULTS.items()
             if f"`{want}`" not in rows[key]}
    assert not wrong, f"README default differs from the model (README, model): {wrong}"
