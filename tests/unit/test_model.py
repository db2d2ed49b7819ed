"""Validation of group data: every kind of bad input gets one clear message naming the key."""

from __future__ import annotations

import copy

import pytest

from operations import layout
from operations.model import ConfigError, Site, format_size, load, parse_size

HASH = "$argon2id$v=19$m=65536,t=3,p=4$ba314BYZ9zZwoyJhvPHIfg$cYYJBOulfMs/cMW/xNlaCUoC4LYxaCja532AAQkf/co"
GOOD = {
    "domain": "code.example.com",
    "users": {
        "alice": {"port": 8081, "password_hash": HASH},
        "bob": {"port": 8082, "password_hash": HASH},
    },
    "acme_email": "ops@example.com",
}


def with_changes(**changes) -> dict:
    data = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        target = data
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return data


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
    ("uppercase name", {"users__Alice": {"port": 8083, "password_hash": HASH}},
     "users['Alice']", "rename"),
    ("dot in name", {"users__al.ice": {"port": 8083, "password_hash": HASH}},
     "users['al.ice']", "rename"),
    ("path in name", {"users__../etc": {"port": 8083, "password_hash": HASH}},
     "users['../etc']", "rename"),
    ("name over 32 chars", {"users__" + "a" * 33: {"port": 8083, "password_hash": HASH}},
     "users['" + "a" * 33 + "']", "rename"),
    ("reserved name", {"users__www": {"port": 8083, "password_hash": HASH}},
     "users['www']", "another name"),
    ("duplicate port", {"users__bob__port": 8081}, "users['bob']['port']", "different port"),
    ("port out of range", {"users__bob__port": 70000}, "users['bob']['port']", "distinct port"),
    ("privileged port", {"users__bob__port": 443}, "users['bob']['port']", "distinct port"),
    ("port as string", {"users__bob__port": "8082"}, "users['bob']['port']", "distinct port"),
    ("malformed hash", {"users__bob__password_hash": "$argon2id$v=19$garbage"},
     "users['bob']['password_hash']", "tools.adduser"),
    ("plaintext password", {"users__bob__password_hash": "correct horse battery"},
     "users['bob']['password_hash']", "plaintext"),
    ("missing hash", {"users__bob": {"port": 8082}}, "users['bob']['password_hash']",
     "tools.adduser"),
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


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load(with_changes(domain="Bad_Domain", cpus=0, users__bob__port=8081))
    assert len(err.value.problems) == 3


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
