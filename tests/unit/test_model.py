"""Validation of group data: every kind of bad input gets one clear message naming the key."""

from __future__ import annotations

import pytest

from operations import layout
from operations.model import ConfigError, Site, format_size, load, parse_size
from tests.unit.data import GOOD, HASH, with_changes


def test_good_data_loads_with_seed_defaults():
    site = load(GOOD)
    assert isinstance(site, Site)
    assert [u.name for u in site.users] == ["alice", "bob"]
    alice = site.users[0]
    assert alice.limits.memory_high == parse_size("2.5G")
    assert alice.limits.memory_max == parse_size("3G")
    assert alice.limits.cpus == 1.5
    assert alice.limits.cpu_quota == 150000
    assert site.workspace_base == "/var/lib/vscode"
    assert layout.workspace_dir(site, alice) == "/var/lib/vscode/alice/workspace"
    assert site.image_base == "docker.io/codercom/code-server:4.139.1"


def test_user_overrides_apply_to_that_user_only():
    site = load(with_changes(users__bob__memory_max="4G", users__bob__cpus=2))
    alice, bob = site.users
    assert bob.limits.memory_max == 4 * 1024**3 and bob.limits.cpus == 2.0
    assert alice.limits.memory_max == 3 * 1024**3 and alice.limits.cpus == 1.5


def test_image_tag_follows_its_inputs():
    a = load(GOOD)
    b = load(with_changes(image_base="docker.io/codercom/code-server:4.140.0"))
    assert a.image.startswith("localhost/vscode-workspace:")
    assert a.image == load(GOOD).image
    assert a.image != b.image


# (description, data changes, key expected in the message, a word of the fix)
BAD = [
    ("uppercase name", {"users__Alice": {"port": 8083}},
     "users['Alice']", "rename"),
    ("dot in name", {"users__al.ice": {"port": 8083}},
     "users['al.ice']", "rename"),
    ("path in name", {"users__../etc": {"port": 8083}},
     "users['../etc']", "rename"),
    ("name over 32 chars", {"users__" + "a" * 33: {"port": 8083}},
     "users['" + "a" * 33 + "']", "rename"),
    ("reserved name", {"users__www": {"port": 8083}},
     "users['www']", "another name"),
    ("duplicate port", {"users__bob__port": 8081}, "users['bob']['port']", "different port"),
    ("port out of range", {"users__bob__port": 70000}, "users['bob']['port']", "distinct port"),
    ("privileged port", {"users__bob__port": 443}, "users['bob']['port']", "distinct port"),
    ("port as string", {"users__bob__port": "8082"}, "users['bob']['port']", "distinct port"),
    ("hash in group data", {"users__bob__password_hash": HASH},
     "users['bob']['password_hash']", "secrets.env"),
    ("unparsable memory", {"memory_max": "lots"}, "memory_max", "suffix"),
    ("soft above hard", {"memory_high": "4G"}, "memory_high", "smaller"),
    ("user soft above hard", {"users__bob__memory_high": "3.5G"},
     "users['bob']['memory_high']", "smaller"),
    ("zero cpus", {"cpus": 0}, "cpus", "above 0"),
    ("negative cpus", {"users__bob__cpus": -1}, "users['bob']['cpus']", "above 0"),
    ("invalid domain", {"domain": "code..example.com"}, "domain", "lowercase labels"),
    ("uppercase domain", {"domain": "Code.Example.com"}, "domain", "lowercase labels"),
    ("single-label domain", {"domain": "localhost"}, "domain", "lowercase labels"),
    ("missing domain", {"domain": None}, "domain", "group_data/all.py"),
    ("no users", {"users": {}}, "users", "add users"),
    ("unknown user key", {"users__bob__memory": "3G"}, "users['bob']['memory']",
     "not a known user key"),
    ("workspace base is /", {"workspace_base": "/"}, "workspace_base", "dedicated"),
    ("relative workspace base", {"workspace_base": "var/lib/vscode"}, "workspace_base",
     "dedicated"),
    ("root as service account", {"service_account": "root"}, "service_account", "lowercase name"),
    ("missing base archive", {"image_base_archive": "/nonexistent/base.tar"},
     "image_base_archive", "podman save"),
    ("unknown TLS mode", {"tls_mode": "https"}, "tls_mode", "acme, certificate, tunnel"),
    ("missing ACME e-mail", {"acme_email": None}, "acme_email", "you@example.com"),
    ("bad ACME e-mail", {"acme_email": "ops"}, "acme_email", "you@example.com"),
    ("plain-HTTP ACME server", {"acme_server": "http://ca.example/dir"}, "acme_server",
     "Let's Encrypt"),
    ("bad DNS provider", {"acme_dns_provider": "Vultr DNS"}, "acme_dns_provider", "lego's name"),
    ("unknown provider without credentials", {"acme_dns_provider": "gandiv5"},
     "acme_dns_credentials", "environment variables"),
    ("credential in settings", {"acme_dns_settings": {"VULTR_API_KEY": "x"}},
     "acme_dns_settings", "secrets.env"),
    ("certificate mode without files", {"tls_mode": "certificate"}, "tls_certificate",
     "PEM file's path"),
    ("relative certificate path", {"tls_mode": "certificate", "tls_certificate": "cert.pem",
                                   "tls_certificate_key": "/etc/ssl/private/k.pem"},
     "tls_certificate", "full path"),
    # A trailing line break: Python's `$` matches before it, so every check is a fullmatch.
    ("name with a line break", {"users__alice\n": {"port": 8083}}, "users['alice\\n']",
     "rename"),
    ("domain with a line break", {"domain": "code.example.com\n"}, "domain",
     "lowercase labels"),
    ("e-mail with a line break", {"acme_email": "ops@example.com\n"}, "acme_email",
     "you@example.com"),
    ("AI key with a line break", {"ai_keys": ["ANTHROPIC_API_KEY\n"]}, "ai_keys",
     "ANTHROPIC_API_KEY"),
    ("user AI key with a line break", {"users__bob__ai_keys": ["OPENAI_API_KEY\n"]},
     "users['bob']['ai_keys']", "ANTHROPIC_API_KEY"),
    ("account with a line break", {"service_account": "codeserver\n"}, "service_account",
     "lowercase name"),
    ("provider with a line break", {"acme_dns_provider": "vultr\n"}, "acme_dns_provider",
     "lego's name"),
    ("setting name with a line break", {"acme_dns_settings": {"VULTR_TTL\n": "300"}},
     "acme_dns_settings", "VULTR_PROPAGATION_TIMEOUT"),
    ("line break in a setting's value",
     {"acme_dns_settings": {"VULTR_PROPAGATION_TIMEOUT": "300\nPATH=/tmp"}},
     "acme_dns_settings", "VULTR_PROPAGATION_TIMEOUT"),
    ("resolver with a line break", {"acme_dns_resolvers": ["1.1.1.1:53\n"]},
     "acme_dns_resolvers", "1.1.1.1:53"),
    ("registry with a line break", {"image_npm_registry": "https://registry.npmjs.org/\n"},
     "image_npm_registry", "npm registry's URL"),
    ("ACME server with a space", {"acme_server": "https://ca.example/dir x"}, "acme_server",
     "Let's Encrypt"),
    ("certificate path with a line break",
     {"tls_mode": "certificate", "tls_certificate": "/etc/ssl/c.pem\n",
      "tls_certificate_key": "/etc/ssl/private/k.pem"}, "tls_certificate", "single '/'"),
    # Unknown keys would silently fall back to their defaults.
    ("misspelt key", {"memmory_max": "4G"}, "memmory_max", "did you mean 'memory_max'?"),
    ("unknown key", {"colour": "blue"}, "colour", "README's data keys"),
    ("password variable in group data", {"VSCODE_PASSWORD_HASH_BOB": HASH},
     "VSCODE_PASSWORD_HASH_BOB", "secrets.env"),
    ("misspelt user key", {"users__bob__memroy_max": "4G"}, "users['bob']['memroy_max']",
     "did you mean 'memory_max'?"),
    # The service account's subordinate ids.
    ("subid start as a string", {"subid_start": "1000000"}, "subid_start", "1000000"),
    ("subid count as bool", {"subid_count": True}, "subid_count", "65536"),
    ("subids among normal uids", {"subid_start": 2000}, "subid_start", "1000000"),
    ("subids contain the account", {"subid_start": 1000}, "subid_start", "above every uid"),
    ("too few subids", {"subid_count": 1000}, "subid_count", "at least 65536"),
    ("subids beyond uid_t", {"subid_start": 2**32 - 1000}, "subid_start", "1000000"),
    # workspace_base: a dedicated, normalized directory, never a system one or tmpfs.
    ("workspace base under /proc", {"workspace_base": "/proc/vscode"}, "workspace_base",
     "dedicated"),
    ("workspace base on tmpfs", {"workspace_base": "/tmp/vscode"}, "workspace_base",
     "dedicated"),
    ("workspace base under /run", {"workspace_base": "/run/vscode"}, "workspace_base",
     "dedicated"),
    ("workspace base under /etc", {"workspace_base": "/etc/vscode-ws"}, "workspace_base",
     "dedicated"),
    ("workspace base is /var/lib", {"workspace_base": "/var/lib/"}, "workspace_base",
     "dedicated"),
    ("workspace base is /srv", {"workspace_base": "/srv"}, "workspace_base", "dedicated"),
    ("workspace base with //", {"workspace_base": "/var/lib//vscode"}, "workspace_base",
     "dedicated"),
    ("workspace base with .", {"workspace_base": "/var/lib/./vscode"}, "workspace_base",
     "dedicated"),
    ("workspace base with a line break", {"workspace_base": "/var/lib/vscode\n"},
     "workspace_base", "dedicated"),
    ("workspace base is the account's home", {"service_account": "vscode"}, "workspace_base",
     "dedicated"),
    ("workspace base holds lego's state", {"workspace_base": "/var/lib/vscode-acme"},
     "workspace_base", "dedicated"),
    # Limits the kernel refuses.
    ("cpus under 1 ms per period", {"cpus": 0.005}, "cpus", "at least 0.01"),
    ("user cpus under 1 ms per period", {"users__bob__cpus": 0.001},
     "users['bob']['cpus']", "at least 0.01"),
    ("pids above the kernel's maximum", {"pids_limit": 2**22 + 1}, "pids_limit", "4096"),
    ("tiny memory_high alone", {"users__bob__memory_high": "1M"},
     "users['bob']['memory_high']", "at least '512M'"),
    # Env names the container, its tools or lego rely on.
    ("PATH as an AI key", {"ai_keys": ["PATH"]}, "ai_keys", "ANTHROPIC_API_KEY"),
    ("HOME as a user's AI key", {"users__bob__ai_keys": ["HOME"]}, "users['bob']['ai_keys']",
     "provider's own variable"),
    ("LD_PRELOAD as an AI key", {"ai_keys": ["LD_PRELOAD"]}, "ai_keys",
     "provider's own variable"),
    ("password variable as an AI key", {"ai_keys": ["VSCODE_PASSWORD_HASH_ALICE"]}, "ai_keys",
     "provider's own variable"),
    ("code-server's variable as an AI key", {"ai_keys": ["HASHED_PASSWORD"]}, "ai_keys",
     "provider's own variable"),
    ("duplicate AI key", {"ai_keys": ["OPENAI_API_KEY", "OPENAI_API_KEY"]}, "ai_keys", "once"),
    ("PATH as a DNS credential", {"acme_dns_credentials": ["PATH"]}, "acme_dns_credentials",
     "VULTR_API_KEY"),
    ("PATH as a DNS setting", {"acme_dns_settings": {"PATH": "/tmp"}}, "acme_dns_settings",
     "provider's own variables"),
    # Image references podman refuses (or would resolve by short name).
    ("image name with a tag", {"image_name": "localhost/vscode-workspace:v1"}, "image_name",
     "name only"),
    ("uppercase image name", {"image_name": "localhost/VSCode"}, "image_name",
     "localhost/vscode-workspace"),
    ("image name without registry", {"image_name": "vscode-workspace"}, "image_name",
     "registry"),
    ("image name not a string", {"image_name": 5}, "image_name", "localhost/vscode-workspace"),
    ("image name over 255 characters", {"image_name": "localhost/" + "a" * 250}, "image_name",
     "localhost/vscode-workspace"),
    ("base image with a bad tag", {"image_base": "docker.io/codercom/code-server:-4"},
     "image_base", "docker.io/codercom/code-server:4.139.1"),
    ("base image with a bad digest", {"image_base": "docker.io/codercom/code-server@sha256:ab"},
     "image_base", "docker.io/codercom/code-server:4.139.1"),
    ("untagged base image", {"image_base": "docker.io/codercom/code-server"}, "image_base",
     "pin a version"),
    ("base image with a line break", {"image_base": "docker.io/codercom/code-server:4\n"},
     "image_base", "docker.io/codercom/code-server:4.139.1"),
    ("base archive not a path", {"image_base_archive": 5}, "image_base_archive",
     "podman save"),
    # Backups: a restic repository outside the workspaces, credentials, retention.
    ("backup inside the workspaces", {"backup_repository": "/var/lib/vscode/backup"},
     "backup_repository", "outside workspace_base"),
    ("backup holding the workspaces", {"backup_repository": "/var/lib"},
     "backup_repository", "outside workspace_base"),
    ("backup in a system directory", {"backup_repository": "/etc/restic"},
     "backup_repository", "outside workspace_base"),
    ("backup in an unknown scheme", {"backup_repository": "ftp:host/x"},
     "backup_repository", "sftp:"),
    ("backup with a line break", {"backup_repository": "/srv/restic\n"},
     "backup_repository", "restic URL"),
    ("backup with ..", {"backup_repository": "/srv/../var/lib/vscode"},
     "backup_repository", "restic URL"),
    ("backup password as a credential", {"backup_credentials": ["RESTIC_PASSWORD"]},
     "backup_credentials", "VSCODE_BACKUP_PASSWORD"),
    ("PATH as a backup credential", {"backup_credentials": ["PATH"]}, "backup_credentials",
     "AWS_ACCESS_KEY_ID"),
    ("retention as a string", {"backup_keep_daily": "7"}, "backup_keep_daily", "e.g. 7"),
    ("negative retention", {"backup_keep_weekly": -1}, "backup_keep_weekly", "e.g. 4"),
    ("nothing kept", {"backup_keep_daily": 0, "backup_keep_weekly": 0,
                      "backup_keep_monthly": 0}, "backup_keep_daily", "at least one"),
]


@pytest.mark.parametrize("what,changes,key,fix", BAD, ids=[b[0] for b in BAD])
def test_bad_data_is_refused_with_key_and_fix(what, changes, key, fix):
    with pytest.raises(ConfigError) as err:
        load(with_changes(**changes))
    message = str(err.value)
    assert "nothing was changed on the host" in message
    matching = [p for p in err.value.problems if p.startswith(key + ":")]
    assert matching, f"no problem names {key!r}:\n{message}"
    assert any(fix in p for p in matching), f"no fix mentioning {fix!r}:\n{message}"
    assert len(matching) == 1, f"one problem, one message:\n{message}"


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load(with_changes(domain="Bad_Domain", cpus=0, users__bob__port=8081))
    assert len(err.value.problems) == 3


@pytest.mark.parametrize("changes", [
    {"workspace_base": "/var/lib/vscode/"}, {"workspace_base": "/srv/vscode"},
    {"workspace_base": "/data/vscode"}, {"service_account": "vscode", "workspace_base": "/srv/ws"},
    {"subid_start": 100_000, "subid_count": 65536},
    {"subid_start": 2**32 - 1 - 65536, "subid_count": 65536},
    {"cpus": 0.01, "pids_limit": 2**22, "memory_high": "512M", "memory_max": "512M"},
    {"image_name": "registry.example.com:5000/team/vscode-workspace"},
    {"image_base": "docker.io/codercom/code-server@sha256:" + "0" * 64},
    {"image_base": "quay.io/a__b/c-d.e:4.139.1_x@sha256:" + "a" * 64},
    {"ai_keys": ["ANTHROPIC_API_KEY", "OPENROUTER_API_KEY"], "users__bob__ai_keys": []},
    {"acme_dns_credentials": ["CF_DNS_API_TOKEN"], "acme_dns_provider": "cloudflare"},
    {"backup_repository": "sftp:backup@host.example:/srv/restic"},
    {"backup_repository": "s3:s3.amazonaws.com/bucket/vscode",
     "backup_credentials": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]},
    {"backup_repository": "local:/srv/restic", "backup_keep_daily": 0},
    {"backup_repository": "/var/backups/restic", "workspace_base": "/srv/ws"},
], ids=str)
def test_edge_values_that_are_fine_load(changes):
    site = load(with_changes(**changes))
    assert site.workspace_base == changes.get("workspace_base", "/var/lib/vscode").rstrip("/")


def test_validation_patterns_refuse_a_trailing_line_break_even_with_match():
    """layout.py and tools/ call .match on these: `$` would accept 'alice\\n'."""
    from operations.model import (
        ACCOUNT_NAME_RE,
        ARGON2_RE,
        EMAIL_RE,
        ENV_NAME_RE,
        LABEL_RE,
        PROVIDER_RE,
        USER_NAME_RE,
        VSIX_RE,
    )

    for pattern, good in [(USER_NAME_RE, "alice"), (ACCOUNT_NAME_RE, "codeserver"),
                          (ARGON2_RE, HASH), (LABEL_RE, "code"), (EMAIL_RE, "ops@example.com"),
                          (ENV_NAME_RE, "ANTHROPIC_API_KEY"), (PROVIDER_RE, "vultr"),
                          (VSIX_RE, "sst-dev.opencode-1.18.33.vsix")]:
        assert pattern.match(good), (pattern.pattern, good)
        assert not pattern.match(good + "\n"), pattern.pattern


def test_pyinfra_and_connector_keys_are_not_unknown():
    """host.data also carries the inventory's connector data and pyinfra's own `_` keys."""
    import os

    from pyinfra.api.host import HostData

    inventory = {"ssh_user": "root", "ssh_port": 2222, "ssh_key": "/k", "_sudo": True,
                 "ssh_known_hosts_file": "/dev/null", "docker_image": "x", "winrm_port": 5986,
                 "local_x": 1, "vagrant_x": 1, "terraform_x": 1, "_CACHE": "/c", "os": os}
    site = load(HostData(None, inventory, GOOD))
    assert [u.name for u in site.users] == ["alice", "bob"]
    with pytest.raises(ConfigError) as err:
        load(HostData(None, inventory, with_changes(memmory_max="4G")))
    assert err.value.problems == ["memmory_max: is not a known key. Fix: did you mean "
                                  "'memory_max'? Rename it, or remove it."]


def test_group_data_files_as_pyinfra_reads_them(tmp_path):
    """Imports and private helpers of a group data file are not keys; a misspelt key is."""
    from tools.site import inventory_host

    text = ("import os\nfrom pathlib import Path as _Path\n"
            "_CACHE = os.environ.get('NOT_SET', '/cache')\n"
            + "".join(f"{k} = {v!r}\n" for k, v in GOOD.items()))
    good, typo = tmp_path / "good", tmp_path / "typo"  # pyinfra caches files by path
    for folder, extra in ((good, ""), (typo, "pids_limt = 8192\n")):
        folder.mkdir()
        (folder / "production.py").write_text(text + extra)
    host = inventory_host("inventories/production.py", group_data=[str(good)])
    assert load(host.data).domain == "code.example.com"
    host = inventory_host("inventories/production.py", group_data=[str(typo)])
    with pytest.raises(ConfigError) as err:
        load(host.data)
    assert [p.split(":")[0] for p in err.value.problems] == ["pids_limt"]
    assert "did you mean 'pids_limit'?" in err.value.problems[0]


@pytest.mark.parametrize("text,size", [("3G", 3 * 1024**3), ("2.5G", 2560 * 1024**2),
                                       ("512M", 512 * 1024**2), ("1024", 1024)])
def test_sizes_round_trip(text, size):
    assert parse_size(text) == size
    assert parse_size(format_size(size)) == size


def test_tls_defaults_follow_the_seed():
    site = load(GOOD)
    assert site.tls_mode == "acme" and site.uses_proxy
    assert site.acme_dns_provider == "vultr"
    assert site.acme_dns_credentials == ("VULTR_API_KEY",)
    assert site.certificate_names == ("*.code.example.com", "code.example.com")
    assert layout.certificate_file(site) == "/var/lib/vscode-acme/certificates/_.code.example.com.crt"


def test_other_modes_need_no_acme_keys():
    brought = load(with_changes(acme_email=None, tls_mode="certificate",
                                tls_certificate="/etc/ssl/c.pem",
                                tls_certificate_key="/etc/ssl/private/k.pem"))
    assert layout.certificate_file(brought) == "/etc/ssl/c.pem" and brought.uses_proxy
    tunnel = load(with_changes(acme_email=None, tls_mode="tunnel"))
    assert not tunnel.uses_proxy


def test_missing_dns_credential_names_the_variable(tmp_path):
    from operations.provided import read_dns_credentials

    site = load(GOOD)
    env = {"VSCODE_SECRETS_FILE": str(tmp_path / "none.env")}
    with pytest.raises(ConfigError) as err:
        read_dns_credentials(site, env)
    assert "VULTR_API_KEY" in str(err.value) and "secrets.env" in str(err.value)
    (tmp_path / "s.env").write_text("VULTR_API_KEY=from-file\n")
    assert read_dns_credentials(site, {"VSCODE_SECRETS_FILE": str(tmp_path / "s.env")}) == {
        "VULTR_API_KEY": "from-file"}


# -- what the deploying machine provides (operations/provided.py) --------------------------
HASH_BOB = ("$argon2id$v=19$m=65536,t=3,p=4$/vyfDMQuRSJRmwoMensbbA$"
            "kPrVJtQik7/ozIiBEOu2L9C4jIs9JvS/IYmqKeX6vpQ")


def hashes_from(tmp_path, **env):
    """read_password_hashes with no secrets file but `env` (never the repo's secrets.env)."""
    from operations.provided import read_password_hashes

    return read_password_hashes(load(GOOD), {"VSCODE_SECRETS_FILE": str(tmp_path / "no.env"),
                                             **env})


def test_password_hashes_come_from_the_environment(tmp_path):
    assert hashes_from(tmp_path, VSCODE_PASSWORD_HASH_ALICE=HASH,
                       VSCODE_PASSWORD_HASH_BOB=HASH_BOB) == {"alice": HASH, "bob": HASH_BOB}
    # A pasted value's stray line break is not part of the secret.
    assert hashes_from(tmp_path, VSCODE_PASSWORD_HASH_ALICE=HASH + "\n",
                       VSCODE_PASSWORD_HASH_BOB=HASH_BOB)["alice"] == HASH


@pytest.mark.parametrize("bob,words", [
    (None, ["VSCODE_PASSWORD_HASH_BOB", "is not set", "tools.adduser bob"]),
    ("correct horse battery", ["VSCODE_PASSWORD_HASH_BOB", "plaintext", "tools.adduser bob"]),
    ("$argon2id$v=19$garbage", ["VSCODE_PASSWORD_HASH_BOB", "well-formed", "tools.adduser bob"]),
    (HASH_BOB[:-4] + "\n" + HASH_BOB[-4:], ["VSCODE_PASSWORD_HASH_BOB", "well-formed"]),
], ids=["missing", "plaintext", "malformed", "inner line break"])
def test_a_missing_or_bad_password_hash_is_refused(tmp_path, bob, words):
    env = {"VSCODE_PASSWORD_HASH_ALICE": HASH}
    if bob is not None:
        env["VSCODE_PASSWORD_HASH_BOB"] = bob
    with pytest.raises(ConfigError) as err:
        hashes_from(tmp_path, **env)
    [problem] = err.value.problems  # alice's is fine
    assert problem.startswith("VSCODE_PASSWORD_HASH_BOB:"), problem
    assert all(word in problem for word in words), problem
    assert HASH_BOB.rstrip() not in problem  # a secret is never echoed


def test_password_hashes_come_from_the_secrets_file(tmp_path):
    from operations.provided import read_password_hashes

    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"# made by tools.adduser\nVSCODE_PASSWORD_HASH_ALICE='{HASH}'\n"
                       f"export VSCODE_PASSWORD_HASH_BOB={HASH_BOB}\n")
    env = {"VSCODE_SECRETS_FILE": str(secrets)}
    assert read_password_hashes(load(GOOD), env) == {"alice": HASH, "bob": HASH_BOB}
    # The environment wins over the file.
    env["VSCODE_PASSWORD_HASH_BOB"] = HASH
    assert read_password_hashes(load(GOOD), env)["bob"] == HASH


def test_a_key_on_the_server_that_is_still_wanted_must_be_provided():
    from operations.model import ai_secret
    from operations.provided import check_keys_kept

    on_host = {ai_secret("ANTHROPIC_API_KEY")}
    with pytest.raises(ConfigError) as err:
        check_keys_kept(load(GOOD), {}, on_host)
    [problem] = err.value.problems
    assert problem.startswith("ai_keys:") and "ANTHROPIC_API_KEY" in problem, problem
    # Wanted by one person only: still wanted.
    one = with_changes(ai_keys=[], users__bob__ai_keys=["ANTHROPIC_API_KEY"])
    with pytest.raises(ConfigError):
        check_keys_kept(load(one), {}, on_host)
    # Provided: kept. Not wanted any more: removed on purpose, no error.
    check_keys_kept(load(GOOD), {"ANTHROPIC_API_KEY": "sk-1"}, on_host)
    check_keys_kept(load(with_changes(ai_keys=["OPENAI_API_KEY"])), {}, on_host)
