"""The one data model: typed site and user settings, their defaults and their validation.

`load(host.data)` turns the plain literals of group_data/ into a `Site`, or raises one
`ConfigError` that lists every problem with the key that holds it and how to fix it.
deploy.py calls it before the first operation, so bad data never touches the host.
Host-side names (units, secrets, vhosts, paths) are derived here and nowhere else; the
tests import the same functions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# Names that would shadow a well-known host name under the domain, or confuse people.
RESERVED_NAMES = frozenset(
    {
        "www", "mail", "smtp", "imap", "pop", "ftp", "ns", "ns1", "ns2", "mx", "api", "admin",
        "root", "localhost", "autoconfig", "autodiscover", "webmail", "static", "cdn", "git",
        "status", "code", "vscode", "default", "_acme-challenge",
    }
)
USER_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$")
ACCOUNT_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
ARGON2_RE = re.compile(
    r"^\$argon2(?:id|i|d)\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$"
)
LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
# Ports nginx or the system may hold; user ports live above the privileged range.
PORT_MIN, PORT_MAX = 1024, 65535
# The one place code-server's version is pinned: files/Dockerfile's `ARG BASE_IMAGE=`.
PRODUCTION_BASE_IMAGE = re.search(r"^ARG BASE_IMAGE=(\S+)$", (REPO / "files/Dockerfile").read_text(),
                                  re.M).group(1)
# Quadlet arrived in podman 4.4; `keep-id:uid=,gid=` and secrets `--replace` need 4.7+.
# Ubuntu 24.04 ships 4.9.3, which is the oldest we test against.
MIN_PODMAN = (4, 9)
CODER_UID = 1000
# The build context: files/ entries uploaded next to the Dockerfile (plus extensions/).
IMAGE_CONTEXT = (
    "Dockerfile",
    "entrypoint.d/50-workspace-setup",
    "workspace/README.md",
    "workspace/settings.json",
)
VSIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*-\d+\.\d+\.\d+\.vsix$")  # the uid of `coder` in codercom/code-server; keep-id maps it to the account

ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
# Shared AI provider keys read on the deploying machine; opencode picks these names up.
DEFAULT_AI_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")
ADDUSER_HINT = "generate one with: python3 -m tools.adduser NAME"

# How people reach their workspace (the README's "TLS modes"):
#   acme         a wildcard certificate from an ACME CA via lego and DNS-01 (the seed design)
#   certificate  a certificate you bring: tls_certificate and tls_certificate_key on the host
#   tunnel       the seed's Phase 1: no nginx, no TLS; `ssh -L PORT:127.0.0.1:PORT server`
TLS_MODES = ("acme", "certificate", "tunnel")
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
# lego's DNS provider names are short lowercase words (vultr, cloudflare, exec, ...).
PROVIDER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,40}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The credentials each well-known provider needs, as lego names them; others: list them in
# acme_dns_credentials.
PROVIDER_CREDENTIALS = {
    "vultr": ("VULTR_API_KEY",),
    "cloudflare": ("CF_DNS_API_TOKEN",),
    "hetzner": ("HETZNER_API_KEY",),
    "digitalocean": ("DO_AUTH_TOKEN",),
    "exec": (),
}


class ConfigError(Exception):
    """Bad group data. Carries every problem found, each naming its key and the fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"group data has {len(problems)} problem(s); nothing was changed on the host:\n{lines}"
        )


def parse_size(text: str) -> int:
    """'2.5G' -> bytes. Raises ValueError on anything else."""
    m = SIZE_RE.match(str(text).strip())
    if not m:
        raise ValueError(text)
    value = float(m.group(1)) * SIZE_UNITS[m.group(2).upper()]
    if value < 1:
        raise ValueError(text)
    return int(value)


def format_size(size: int) -> str:
    """Bytes -> the shortest exact 'K/M/G' form, as podman and systemd accept it."""
    for unit in ("T", "G", "M", "K"):
        if size % SIZE_UNITS[unit] == 0:
            return f"{size // SIZE_UNITS[unit]}{unit}"
    return str(size)


@dataclass(frozen=True)
class Limits:
    memory_high: int  # bytes; cgroup memory.high: the soft limit that throttles and reclaims
    memory_max: int  # bytes; cgroup memory.max: the hard limit, OOM kill above it
    cpus: float  # cores; cgroup cpu.max quota
    pids: int  # cgroup pids.max: no fork bomb reaches the host

    @property
    def cpu_quota(self) -> int:
        """cpu.max quota in microseconds per 100 ms period, as podman writes it."""
        return int(round(self.cpus * 100_000))


# The seed design's per-container limits: 2.5G soft, 3G hard, 1.5 cores.
SEED_LIMITS = Limits(memory_high=int(2.5 * 1024**3), memory_max=3 * 1024**3, cpus=1.5, pids=4096)


@dataclass(frozen=True)
class User:
    name: str
    port: int
    password_hash: str
    limits: Limits
    ai_keys: tuple[str, ...] | None = None  # None: every shared key of the site


def ai_secret(env_name: str) -> str:
    """Podman secret holding a shared AI provider key: ANTHROPIC_API_KEY -> ai-anthropic-api-key."""
    return "ai-" + env_name.lower().replace("_", "-")


@dataclass(frozen=True)
class Site:
    domain: str
    users: tuple[User, ...]
    workspace_base: str = "/var/lib/vscode"
    service_account: str = "codeserver"
    service_account_uid: int = 1500
    subid_start: int = 1_000_000
    subid_count: int = 65536
    image_base: str = PRODUCTION_BASE_IMAGE
    image_base_archive: str | None = None
    image_build_ca: str | None = None
    image_extension_vsix: str | None = None
    image_name: str = "localhost/vscode-workspace"
    image_npm_registry: str | None = None  # None: the deploying machine's npm registry
    ai_keys: tuple[str, ...] = DEFAULT_AI_KEYS  # env names of shared provider keys
    defaults: Limits = SEED_LIMITS
    tls_mode: str = "acme"
    acme_email: str | None = None
    acme_server: str = LETSENCRYPT
    acme_server_ca: str | None = None  # a PEM on the host that the ACME server's TLS needs
    acme_dns_provider: str = "vultr"
    acme_dns_credentials: tuple[str, ...] = PROVIDER_CREDENTIALS["vultr"]
    acme_dns_settings: tuple[tuple[str, str], ...] = ()  # non-secret provider settings
    acme_dns_resolvers: tuple[str, ...] = ()
    acme_dns_propagation_check: bool = True
    tls_certificate: str | None = None
    tls_certificate_key: str | None = None

    # -- TLS ---------------------------------------------------------------------------
    @property
    def uses_proxy(self) -> bool:
        """nginx vhosts and TLS: everything but the SSH-tunnel-only mode."""
        return self.tls_mode != "tunnel"

    @property
    def certificate_names(self) -> tuple[str, ...]:
        """What the wildcard certificate covers, in lego's order (the first names the files)."""
        return (f"*.{self.domain}", self.domain)

    def keys_of(self, user: User, available: Mapping[str, str]) -> tuple[str, ...]:
        """The shared AI keys this user's container gets: wanted and actually provided."""
        wanted = self.ai_keys if user.ai_keys is None else user.ai_keys
        return tuple(k for k in wanted if k in available)

    # -- the image ---------------------------------------------------------------------
    def image_inputs(self) -> list[tuple[str, bytes]]:
        """Every file and argument the image build reads, as (name, content) pairs."""
        inputs = [(name, (REPO / "files" / name).read_bytes()) for name in IMAGE_CONTEXT]
        inputs.append(("arg:BASE_IMAGE", self.image_base.encode()))
        if self.image_extension_vsix:
            vsix = Path(self.image_extension_vsix)
            inputs.append((f"extensions/{vsix.name}", vsix.read_bytes()))
        return inputs

    @property
    def image_hash(self) -> str:
        digest = hashlib.sha256()
        for name, content in self.image_inputs():
            digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
        return digest.hexdigest()[:12]

    @property
    def image(self) -> str:
        return f"{self.image_name}:{self.image_hash}"


# --------------------------------------------------------------------------------------
# Loading and validation

SITE_KEYS = {
    "domain", "users", "workspace_base", "service_account", "service_account_uid",
    "subid_start", "subid_count", "image_base", "image_base_archive", "image_build_ca",
    "image_extension_vsix", "image_name", "image_npm_registry", "ai_keys",
    "memory_high", "memory_max", "cpus", "pids_limit",
    "tls_mode", "acme_email", "acme_server", "acme_server_ca", "acme_dns_provider",
    "acme_dns_credentials", "acme_dns_settings", "acme_dns_resolvers",
    "acme_dns_propagation_check", "tls_certificate", "tls_certificate_key",
}
USER_KEYS = {"port", "password_hash", "memory_high", "memory_max", "cpus", "pids_limit",
             "ai_keys"}



class _Collector:
    """Gathers problems so one run reports all of them, not the first only."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, key: str, problem: str, fix: str) -> None:
        self.problems.append(f"{key}: {problem}. Fix: {fix}.")


def _limits(data: Mapping[str, Any], key: Callable[[str], str], fallback: Limits,
            c: _Collector) -> Limits:
    """Limits from `data`, falling back per key; `key` names a key for error messages."""

    def size(name: str, default: int) -> int:
        if name not in data:
            return default
        try:
            return parse_size(data[name])
        except (ValueError, TypeError):
            c.add(key(name), f"{data[name]!r} is not a size",
                  "write a number with an optional K, M, G or T suffix, e.g. '2.5G' or '3072M'")
            return default

    high = size("memory_high", fallback.memory_high)
    hard = size("memory_max", fallback.memory_max)
    own = "memory_high" in data or "memory_max" in data
    if own and high > hard:
        c.add(key("memory_high"), f"the soft limit {format_size(high)} is above the hard limit "
              f"{key('memory_max')} = {format_size(hard)}",
              "make memory_high smaller than or equal to memory_max")
    if own and hard < parse_size("512M"):
        c.add(key("memory_max"), f"{format_size(hard)} is too small for code-server",
              "give at least '512M'; the seed design uses '3G'")

    cpus = data.get("cpus", fallback.cpus)
    if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not 0 < cpus <= 256:
        c.add(key("cpus"), f"{cpus!r} is not a positive number of cores",
              "give a number above 0, e.g. 1.5")
        cpus = fallback.cpus

    pids = data.get("pids_limit", fallback.pids)
    if isinstance(pids, bool) or not isinstance(pids, int) or pids < 64:
        c.add(key("pids_limit"), f"{pids!r} is not a whole number of at least 64",
              "give e.g. 4096")
        pids = fallback.pids
    return Limits(high, hard, float(cpus), pids)


def _key_names(value: Any, key: str, c: _Collector) -> tuple[str, ...] | None:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and ENV_NAME_RE.match(v) for v in value
    ):
        c.add(key, f"{value!r} is not a list of environment variable names",
              "write e.g. ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY']")
        return None
    return tuple(value)


def _check_domain(domain: Any, c: _Collector) -> str:
    if not isinstance(domain, str) or not domain:
        c.add("domain", "is missing", "set domain = 'code.example.com' in group_data/all.py")
        return "invalid.example"
    labels = domain.split(".")
    if domain != domain.lower() or len(labels) < 2 or len(domain) > 200 or not all(
        LABEL_RE.match(label) for label in labels
    ) or labels[-1].isdigit():
        c.add("domain", f"{domain!r} is not a valid DNS name",
              "use lowercase labels of letters, digits and inner hyphens, e.g. 'code.example.com'")
    return domain


def _check_user(name: Any, raw: Any, defaults: Limits, c: _Collector) -> User | None:
    key = f"users[{name!r}]"
    ok = True
    if not isinstance(name, str) or not USER_NAME_RE.match(name):
        c.add(key, "the name must be 1-32 characters of lowercase letters, digits and inner "
              "hyphens, starting with a letter (it becomes a DNS label and a unit name)",
              "rename the user, e.g. 'alice' or 'bob-smith'")
        ok = False
    elif name in RESERVED_NAMES:
        c.add(key, f"{name!r} is a reserved name", "pick another name for this person")
        ok = False
    if not isinstance(raw, Mapping):
        c.add(key, "must be a dict with port and password_hash",
              f"write {key} = {{'port': 8081, 'password_hash': '$argon2id$...'}}")
        return None
    for unknown in sorted(set(raw) - USER_KEYS):
        c.add(f"{key}[{unknown!r}]", "is not a known user key",
              f"remove it, or use one of {sorted(USER_KEYS)}")
        ok = False

    port = raw.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not PORT_MIN <= port <= PORT_MAX:
        c.add(f"{key}['port']", f"{port!r} is not a port from {PORT_MIN} to {PORT_MAX}",
              "give each user a distinct port, e.g. 8081")
        ok = False

    pw = raw.get("password_hash")
    if not isinstance(pw, str) or not pw:
        c.add(f"{key}['password_hash']", "is missing", ADDUSER_HINT)
        ok = False
    elif not pw.startswith("$argon2"):
        c.add(f"{key}['password_hash']", "looks like a plaintext password, not an argon2 hash; "
              "a plaintext password must never be stored in group data", ADDUSER_HINT)
        ok = False
    elif not ARGON2_RE.match(pw):
        c.add(f"{key}['password_hash']", "is not a well-formed argon2 hash", ADDUSER_HINT)
        ok = False

    limits = _limits(raw, lambda k: f"{key}[{k!r}]", defaults, c)
    ai_keys = None
    if "ai_keys" in raw:
        ai_keys = _key_names(raw["ai_keys"], f"{key}['ai_keys']", c)
        ok = ok and ai_keys is not None
    if not ok:
        return None
    return User(name=name, port=port, password_hash=pw, limits=limits, ai_keys=ai_keys)


def _read_text(path: Any) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except (OSError, TypeError):
        return ""


def _check_tls(raw: Mapping[str, Any], c: _Collector) -> dict[str, Any]:
    """The TLS keys as Site fields; only the keys of the chosen mode are required."""
    mode = raw.get("tls_mode", Site.tls_mode)
    if mode not in TLS_MODES:
        c.add("tls_mode", f"{mode!r} is not a TLS mode",
              f"use one of {', '.join(TLS_MODES)} (see the README's TLS modes)")
        return {}
    out: dict[str, Any] = {"tls_mode": mode}
    for key in ("tls_certificate", "tls_certificate_key", "acme_server_ca"):
        path = raw.get(key)
        if path is not None and (not isinstance(path, str) or not path.startswith("/")):
            c.add(key, f"{path!r} is not an absolute path on the server",
                  "give the full path of the PEM file on the server")
        out[key] = path
    if mode == "certificate":
        for key in ("tls_certificate", "tls_certificate_key"):
            if raw.get(key) is None:
                c.add(key, "is missing, and tls_mode is 'certificate'",
                      f"set {key} to the PEM file's path on the server, or use tls_mode 'acme'")
    if mode != "acme":
        return out

    email = raw.get("acme_email")
    if not isinstance(email, str) or not EMAIL_RE.match(email):
        c.add("acme_email", f"{email!r} is not an e-mail address" if email else "is missing",
              "set acme_email = 'you@example.com': the ACME CA writes there about expiring "
              "certificates")
    out["acme_email"] = email

    server_url = raw.get("acme_server", LETSENCRYPT)
    if not isinstance(server_url, str) or not server_url.startswith("https://"):
        c.add("acme_server", f"{server_url!r} is not an https:// ACME directory URL",
              f"remove the key to use Let's Encrypt ({LETSENCRYPT})")
    out["acme_server"] = server_url

    provider = raw.get("acme_dns_provider", Site.acme_dns_provider)
    if not isinstance(provider, str) or not PROVIDER_RE.match(provider):
        c.add("acme_dns_provider", f"{provider!r} is not a lego DNS provider name",
              "use lego's name for your DNS host, e.g. 'vultr' or 'cloudflare'")
        provider = Site.acme_dns_provider
    out["acme_dns_provider"] = provider

    if "acme_dns_credentials" in raw:
        creds = _key_names(raw["acme_dns_credentials"], "acme_dns_credentials", c) or ()
    elif provider in PROVIDER_CREDENTIALS:
        creds = PROVIDER_CREDENTIALS[provider]
    else:
        c.add("acme_dns_credentials", f"is missing, and the credentials of {provider!r} are not "
              "known here", "list the environment variables lego's page for this provider "
              "names, e.g. ['PROVIDER_API_KEY']")
        creds = ()
    out["acme_dns_credentials"] = tuple(creds)

    settings = raw.get("acme_dns_settings", {})
    if not isinstance(settings, Mapping) or not all(
        isinstance(k, str) and ENV_NAME_RE.match(k) and isinstance(v, (str, int))
        for k, v in settings.items()
    ):
        c.add("acme_dns_settings", f"{settings!r} is not a dict of NAME: value",
              "write e.g. {'VULTR_PROPAGATION_TIMEOUT': '300'}; secrets belong in "
              "acme_dns_credentials")
        settings = {}
    clash = sorted(set(settings) & set(out["acme_dns_credentials"]))
    if clash:
        c.add("acme_dns_settings", f"{', '.join(clash)} is a credential",
              "keep credentials out of group data: set them in the environment or secrets.env")
    out["acme_dns_settings"] = tuple(sorted((k, str(v)) for k, v in settings.items()))

    resolvers = raw.get("acme_dns_resolvers", [])
    if not isinstance(resolvers, (list, tuple)) or not all(
        isinstance(r, str) and re.match(r"^[A-Za-z0-9.:\[\]-]+$", r) for r in resolvers
    ):
        c.add("acme_dns_resolvers", f"{resolvers!r} is not a list of host:port",
              "write e.g. ['1.1.1.1:53'], or remove the key")
        resolvers = []
    out["acme_dns_resolvers"] = tuple(resolvers)

    check = raw.get("acme_dns_propagation_check", True)
    if not isinstance(check, bool):
        c.add("acme_dns_propagation_check", f"{check!r} is not True or False",
              "remove the key (True) unless your DNS is a test server")
        check = True
    out["acme_dns_propagation_check"] = check
    return out


def load(data: Any) -> Site:
    """Build the typed Site from host.data (or any mapping), or raise ConfigError."""
    raw: dict[str, Any] = {k: data.get(k) for k in SITE_KEYS if data.get(k) is not None}
    c = _Collector()

    domain = _check_domain(raw.get("domain"), c)
    problems_before = len(c.problems)
    defaults = _limits(raw, str, SEED_LIMITS, c)
    if len(c.problems) > problems_before:
        defaults = SEED_LIMITS  # report bad site defaults once, not again under every user

    account = raw.get("service_account", Site.service_account)
    if not isinstance(account, str) or not ACCOUNT_NAME_RE.match(account) or account == "root":
        c.add("service_account", f"{account!r} is not a usable unprivileged account name",
              "use a lowercase name such as 'codeserver'")
    uid = raw.get("service_account_uid", Site.service_account_uid)
    if isinstance(uid, bool) or not isinstance(uid, int) or not 1000 <= uid < 60000:
        c.add("service_account_uid", f"{uid!r} is not a uid from 1000 to 59999",
              "pick a free uid, e.g. 1500")

    base = raw.get("workspace_base", Site.workspace_base)
    if not isinstance(base, str) or not base.startswith("/") or base.rstrip("/") in (
        "", "/etc", "/usr", "/var", "/home", "/root", "/tmp",
    ) or ".." in base.split("/"):
        c.add("workspace_base", f"{base!r} is not a dedicated absolute directory",
              "use e.g. '/var/lib/vscode'")
    else:
        base = base.rstrip("/")

    archive = raw.get("image_base_archive")
    if archive is not None and not Path(archive).is_file():
        c.add("image_base_archive", f"{archive!r} is not a file on this machine",
              "point it at a `podman save` archive, or remove the key to pull image_base")

    build_ca = raw.get("image_build_ca")
    if build_ca is not None and "BEGIN CERTIFICATE" not in _read_text(build_ca):
        c.add("image_build_ca", f"{build_ca!r} is not a PEM certificate bundle on this machine",
              "point it at the proxy's CA bundle (PEM), or remove the key")

    vsix = raw.get("image_extension_vsix")
    if vsix is not None and (not Path(vsix).is_file() or not VSIX_RE.match(Path(vsix).name)):
        c.add("image_extension_vsix", f"{vsix!r} is not a file named publisher.name-X.Y.Z.vsix",
              "point it at the opencode extension's .vsix, e.g. sst-dev.opencode-1.18.33.vsix, "
              "or remove the key to download it from Open VSX")

    registry = raw.get("image_npm_registry")
    if registry is not None and (not isinstance(registry, str) or not re.match(
            r"^https?://[^\s/]+(/\S*)?$", registry)):
        c.add("image_npm_registry", f"{registry!r} is not an http(s) URL",
              "give your npm registry's URL, or remove the key to use the one your npm uses")

    ai_keys = _key_names(raw.get("ai_keys", list(DEFAULT_AI_KEYS)), "ai_keys", c) or ()

    users_raw = raw.get("users")
    users: list[User] = []
    if not isinstance(users_raw, Mapping) or not users_raw:
        c.add("users", "no users are defined",
              "add users = {'alice': {'port': 8081, 'password_hash': '$argon2id$...'}}")
        users_raw = {}
    ports: dict[int, str] = {}
    for name, user_raw in users_raw.items():
        user = _check_user(name, user_raw, defaults, c)
        if user is None:
            continue
        if user.port in ports:
            c.add(f"users[{name!r}]['port']",
                  f"port {user.port} is already used by {ports[user.port]!r}",
                  "give every user a different port")
            continue
        ports[user.port] = name
        users.append(user)

    tls = _check_tls(raw, c)

    if c.problems:
        raise ConfigError(c.problems)
    return Site(
        **tls,
        domain=domain,
        users=tuple(sorted(users, key=lambda u: u.name)),
        workspace_base=base,
        service_account=account,
        service_account_uid=uid,
        subid_start=raw.get("subid_start", Site.subid_start),
        subid_count=raw.get("subid_count", Site.subid_count),
        image_base=raw.get("image_base", PRODUCTION_BASE_IMAGE),
        image_base_archive=archive,
        image_build_ca=build_ca,
        image_extension_vsix=vsix,
        ai_keys=ai_keys,
        image_name=raw.get("image_name", Site.image_name),
        image_npm_registry=registry.rstrip("/") if registry else None,
        defaults=defaults,
    )
