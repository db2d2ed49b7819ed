"""The one data model: typed site and user settings, their defaults and their validation.

`load(host.data)` turns the plain literals of group_data/ into a `Site`, or raises one
`ConfigError` that lists every problem with the key that holds it and how to fix it.
deploy.py calls it before the first operation, so bad data never touches the host.
Host-side names (units, secrets, vhosts, paths) are derived in operations/layout.py, and
nowhere else; secrets are read by operations/provided.py, never from group data.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
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
USER_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?\Z")
ACCOUNT_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")
ARGON2_RE = re.compile(
    r"^\$argon2(?:id|i|d)\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}\Z"
)
LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)\Z", re.IGNORECASE)
SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
# Ports nginx or the system may hold; user ports live above the privileged range.
PORT_MIN, PORT_MAX = 1024, 65535
# What the kernel accepts: cpu.max's smallest quota is 1 ms per 100 ms period (podman writes
# round(cpus * 100000) µs), and pids.max cannot exceed PID_MAX_LIMIT (2**22 on 64-bit).
CPUS_MIN, CPUS_MAX = 0.01, 256
PIDS_MIN, PIDS_MAX = 64, 2**22
MEMORY_MIN = 512 * 1024**2  # code-server and opencode do not start in less
# The service account's subordinate ids: above every normal uid, wide enough for the image's
# uids 0-65535, and inside uid_t (2**32 - 1 is the invalid uid).
SUBID_MIN, SUBID_COUNT_MIN, SUBID_END_MAX = 100_000, 65536, 2**32 - 1
# workspace_base may be none of these, nor inside the first ones.
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/boot", "/etc", "/usr",
                "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/var/lib/systemd",
                "/var/lib/containers", "/var/lib/dpkg", "/var/lib/apt")
SYSTEM_DIRS = ("/", "/var", "/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/mail",
               "/var/www", "/home", "/root", "/srv", "/opt", "/mnt", "/media")
SERVER_PATH_RE = re.compile(r"(?:/[A-Za-z0-9._@+-]+)+")
# The one place code-server's version is pinned: files/Dockerfile's `ARG BASE_IMAGE=`.
PRODUCTION_BASE_IMAGE = re.search(r"^ARG BASE_IMAGE=(\S+)$", (REPO / "files/Dockerfile").read_text(),
                                  re.M).group(1)
# Quadlet arrived in podman 4.4; secrets `--replace` need 4.7+.
# Ubuntu 24.04 ships 4.9.3, which is the oldest we test against.
MIN_PODMAN = (4, 9)
CODER_UID = 1000  # the uid of `coder` in codercom/code-server (Site.coder_host_uid on the host)
# The build context: files/ entries uploaded next to the Dockerfile (plus extensions/).
IMAGE_CONTEXT = (
    "Dockerfile",
    "entrypoint.d/50-workspace-setup",
    "workspace/README.md",
    "workspace/settings.json",
)
VSIX_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*-\d+\.\d+\.\d+\.vsix\Z")

ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}\Z")
# Variables the container, its tools (code-server, node, git, the shell) or lego on the host
# rely on: a secret under one of these names would replace them, so no key may use them.
RESERVED_ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TERM", "HOSTNAME", "LANG",
    "LANGUAGE", "TZ", "TMPDIR", "MAIL", "EDITOR", "VISUAL", "PASSWORD", "HASHED_PASSWORD",
    "IFS", "ENV", "SHLVL", "UID", "EUID", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "ALL_PROXY",
})
RESERVED_ENV_PREFIXES = ("LD_", "LC_", "XDG_", "CODE_SERVER_", "VSCODE_", "NODE_",
                         "NPM_CONFIG_", "PYTHON", "GIT_", "SSH_", "BASH_", "ENTRYPOINTD",
                         "DBUS_")
# Container image references as podman parses them (github.com/distribution/reference).
_IMAGE_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IMAGE_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_NAME_RE = re.compile(
    rf"(?:(?P<domain>(?:{_IMAGE_DOMAIN_PART}(?:\.{_IMAGE_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])"
    rf"(?::[0-9]+)?)/)?{_IMAGE_PATH_PART}(?:/{_IMAGE_PATH_PART})*"
)
IMAGE_TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
IMAGE_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
IMAGE_NAME_MAX = 255
# Shared AI provider keys read on the deploying machine; opencode picks these names up.
DEFAULT_AI_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")

# Backups (operations/backup.py): restic, to any repository restic knows.
DEFAULT_BACKUP_REPOSITORY = "/var/backups/vscode-restic"  # outside workspace_base
RESTIC_SCHEMES = ("local", "sftp", "rest", "s3", "b2", "azure", "gs", "swift", "rclone")
# The repository's password on the deploying machine (provided.py); never in group data.
BACKUP_PASSWORD_VARIABLE = "VSCODE_BACKUP_PASSWORD"
# What the backup's environment file sets itself: no credential may replace these.
RESTIC_OWN_NAMES = frozenset({"RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE", "RESTIC_PASSWORD",
                              "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND",
                              "RESTIC_CACHE_DIR"})
KEEP_MAX = 10_000
# Where failures are posted (operations/alerts.py): a URL read like a secret, because a
# Slack, Matrix or ntfy webhook URL is itself the credential. "none" turns alerts off.
ALERT_WEBHOOK_VARIABLE = "VSCODE_ALERT_WEBHOOK"
# When the daily check (operations/checks.py) posts an alert and tools.status marks a line `!`.
CERT_WARN_DAYS = 14  # the renewal timer renews at 30 days left: under 14, it has failed a while
BACKUP_WARN_HOURS = 36  # since the last backup: a daily one, with up to an hour's random delay
DISK_WARN_PERCENT = 90  # a filesystem this full, as df's Use% counts (blocks reserved for root aside)

# How people reach their workspace (the README's "TLS modes"):
#   acme         a wildcard certificate from an ACME CA via lego and DNS-01 (the seed design)
#   certificate  a certificate you bring: tls_certificate and tls_certificate_key on the host
#   tunnel       the seed's Phase 1: no nginx, no TLS; `ssh -L PORT:127.0.0.1:PORT server`
TLS_MODES = ("acme", "certificate", "tunnel")
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
# lego's DNS provider names are short lowercase words (vultr, cloudflare, exec, ...).
PROVIDER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,40}\Z")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
URL_RE = re.compile(r"https?://[^\s/]+(?:/\S*)?")
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
    m = SIZE_RE.fullmatch(str(text).strip())
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
    backup_repository: str = DEFAULT_BACKUP_REPOSITORY
    backup_credentials: tuple[str, ...] = ()  # env names of the backend's credentials
    backup_keep_daily: int = 7
    backup_keep_weekly: int = 4
    backup_keep_monthly: int = 6

    # -- who is who on the host ----------------------------------------------------------
    @property
    def coder_host_uid(self) -> int:
        """`coder` of every container, as the host sees it. The containers run in rootless
        podman's own user namespace: its root is the service account, and its uid N > 0 is
        the account's subordinate id subid_start + N - 1 (subid_count >= 65536 maps them
        all). This uid owns the workspaces; it owns nothing else on the host."""
        return self.subid_start + CODER_UID - 1

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
    "backup_repository", "backup_credentials", "backup_keep_daily", "backup_keep_weekly",
    "backup_keep_monthly",
}
USER_KEYS = {"port", "memory_high", "memory_max", "cpus", "pids_limit", "ai_keys"}
# The env name that carries a person's password hash on the deploying machine (provided.py).
PASSWORD_HASH_PREFIX = "VSCODE_PASSWORD_HASH_"


def password_variable(name: str) -> str:
    """alice -> VSCODE_PASSWORD_HASH_ALICE; bob-smith -> VSCODE_PASSWORD_HASH_BOB_SMITH.
    One-to-one: people's names have no underscores."""
    return PASSWORD_HASH_PREFIX + name.upper().replace("-", "_")



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
    # One problem each: a too small limit first, since it also puts the soft above the hard.
    small = [n for n, v in (("memory_max", hard), ("memory_high", high))
             if n in data and v < MEMORY_MIN]
    if small:
        value = hard if small[0] == "memory_max" else high
        c.add(key(small[0]), f"{format_size(value)} is too small for code-server",
              f"give at least '{format_size(MEMORY_MIN)}'; the seed design uses '2560M' "
              "(memory_high) and '3G' (memory_max)")
    elif own and high > hard:
        c.add(key("memory_high"), f"the soft limit {format_size(high)} is above the hard limit "
              f"{key('memory_max')} = {format_size(hard)}",
              "make memory_high smaller than or equal to memory_max")

    cpus = data.get("cpus", fallback.cpus)
    if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not 0 < cpus <= CPUS_MAX:
        c.add(key("cpus"), f"{cpus!r} is not a positive number of cores",
              "give a number above 0, e.g. 1.5")
        cpus = fallback.cpus
    elif cpus < CPUS_MIN:
        c.add(key("cpus"), f"{cpus!r} cores is a quota under 1 ms per 100 ms, which the kernel "
              "refuses", f"give at least {CPUS_MIN} (a hundredth of a core), e.g. 1.5")
        cpus = fallback.cpus

    pids = data.get("pids_limit", fallback.pids)
    if isinstance(pids, bool) or not isinstance(pids, int) or not PIDS_MIN <= pids <= PIDS_MAX:
        c.add(key("pids_limit"), f"{pids!r} is not a whole number from {PIDS_MIN} to {PIDS_MAX} "
              "(the kernel's largest pids.max)", "give e.g. 4096")
        pids = fallback.pids
    return Limits(high, hard, float(cpus), pids)


def _reserved_env(name: str) -> str | None:
    """Why `name` may not carry a secret, or None if it may."""
    if name.startswith(PASSWORD_HASH_PREFIX):
        return "is the variable of a person's password hash"
    if name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES):
        return "is a variable the container, its tools or lego rely on (it would replace it)"
    return None


def _key_names(value: Any, key: str, c: _Collector,
               example: str = "ANTHROPIC_API_KEY") -> tuple[str, ...] | None:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(v, str) and ENV_NAME_RE.fullmatch(v) for v in value
    ):
        c.add(key, f"{value!r} is not a list of environment variable names",
              "write e.g. ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY']"
              if example == "ANTHROPIC_API_KEY" else f"write e.g. [{example!r}]")
        return None
    ok = True
    for name in value:
        why = _reserved_env(name)
        if why:
            c.add(key, f"{name} {why}", f"use the provider's own variable name, e.g. {example}")
            ok = False
    for name in sorted({v for v in value if value.count(v) > 1}):
        c.add(key, f"{name} is listed twice", "list each name once")
        ok = False
    return tuple(value) if ok else None


def _check_domain(domain: Any, c: _Collector) -> str:
    if not isinstance(domain, str) or not domain:
        c.add("domain", "is missing", "set domain = 'code.example.com' in group_data/all.py")
        return "invalid.example"
    labels = domain.split(".")
    if domain != domain.lower() or len(labels) < 2 or len(domain) > 200 or not all(
        LABEL_RE.fullmatch(label) for label in labels
    ) or labels[-1].isdigit():
        c.add("domain", f"{domain!r} is not a valid DNS name",
              "use lowercase labels of letters, digits and inner hyphens, e.g. 'code.example.com'")
    return domain


def _check_user(name: Any, raw: Any, defaults: Limits, c: _Collector) -> User | None:
    key = f"users[{name!r}]"
    ok = True
    if not isinstance(name, str) or not USER_NAME_RE.fullmatch(name):
        c.add(key, "the name must be 1-32 characters of lowercase letters, digits and inner "
              "hyphens, starting with a letter (it becomes a DNS label and a unit name)",
              "rename the user, e.g. 'alice' or 'bob-smith'")
        ok = False
    elif name in RESERVED_NAMES:
        c.add(key, f"{name!r} is a reserved name", "pick another name for this person")
        ok = False
    if not isinstance(raw, Mapping):
        c.add(key, "must be a dict with at least the port",
              f"write {key} = {{'port': 8081}}")
        return None
    for unknown in sorted(set(raw) - USER_KEYS - {"password_hash"}, key=str):
        close = difflib.get_close_matches(str(unknown), sorted(USER_KEYS), n=1)
        c.add(f"{key}[{unknown!r}]", "is not a known user key",
              f"did you mean {close[0]!r}? Rename it, or remove it" if close else
              f"remove it, or use one of {sorted(USER_KEYS)}")
        ok = False

    port = raw.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not PORT_MIN <= port <= PORT_MAX:
        c.add(f"{key}['port']", f"{port!r} is not a port from {PORT_MIN} to {PORT_MAX}",
              "give each user a distinct port, e.g. 8081")
        ok = False

    if "password_hash" in raw:
        # code-server accepts the hash itself as the session cookie: it is a secret.
        c.add(f"{key}['password_hash']", "a password hash is a secret (code-server accepts the "
              "hash itself as the login cookie), so it must not be in group data",
              f"move it to secrets.env as {password_variable(str(name))}='<the hash>' (or the "
              "environment), delete the key from group data, and change the password if this "
              "file was ever shared: python3 -m tools.adduser " + str(name))
        ok = False

    limits = _limits(raw, lambda k: f"{key}[{k!r}]", defaults, c)
    ai_keys = None
    if "ai_keys" in raw:
        ai_keys = _key_names(raw["ai_keys"], f"{key}['ai_keys']", c)
        ok = ok and ai_keys is not None
    if not ok:
        return None
    return User(name=name, port=port, limits=limits, ai_keys=ai_keys)


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
        elif path is not None and not SERVER_PATH_RE.fullmatch(path):
            c.add(key, f"{path!r} is not a plain path nginx and lego read as written (no "
                  "spaces, quotes, line breaks or '//')",
                  "give a path of letters, digits, '.', '_', '-' and single '/'")
        out[key] = path
    if mode == "certificate":
        for key in ("tls_certificate", "tls_certificate_key"):
            if raw.get(key) is None:
                c.add(key, "is missing, and tls_mode is 'certificate'",
                      f"set {key} to the PEM file's path on the server, or use tls_mode 'acme'")
    if mode != "acme":
        return out

    email = raw.get("acme_email")
    if not isinstance(email, str) or not EMAIL_RE.fullmatch(email):
        c.add("acme_email", f"{email!r} is not an e-mail address" if email else "is missing",
              "set acme_email = 'you@example.com': the ACME CA writes there about expiring "
              "certificates")
    out["acme_email"] = email

    server_url = raw.get("acme_server", LETSENCRYPT)
    if not isinstance(server_url, str) or not URL_RE.fullmatch(server_url) or not \
            server_url.startswith("https://"):
        c.add("acme_server", f"{server_url!r} is not an https:// ACME directory URL",
              f"remove the key to use Let's Encrypt ({LETSENCRYPT})")
    out["acme_server"] = server_url

    provider = raw.get("acme_dns_provider", Site.acme_dns_provider)
    if not isinstance(provider, str) or not PROVIDER_RE.fullmatch(provider):
        c.add("acme_dns_provider", f"{provider!r} is not a lego DNS provider name",
              "use lego's name for your DNS host, e.g. 'vultr' or 'cloudflare'")
        provider = Site.acme_dns_provider
    out["acme_dns_provider"] = provider

    if "acme_dns_credentials" in raw:
        creds = _key_names(raw["acme_dns_credentials"], "acme_dns_credentials", c,
                           example="VULTR_API_KEY") or ()
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
        isinstance(k, str) and ENV_NAME_RE.fullmatch(k) and isinstance(v, (str, int))
        and str(v).isprintable()
        for k, v in settings.items()
    ):
        c.add("acme_dns_settings", f"{settings!r} is not a dict of NAME: value (one line each)",
              "write e.g. {'VULTR_PROPAGATION_TIMEOUT': '300'}; secrets belong in "
              "acme_dns_credentials")
        settings = {}
    for name in sorted(settings):
        why = _reserved_env(name)
        if why:
            c.add("acme_dns_settings", f"{name} {why}",
                  "set only the provider's own variables, e.g. VULTR_PROPAGATION_TIMEOUT")
    clash = sorted(set(settings) & set(out["acme_dns_credentials"]))
    if clash:
        c.add("acme_dns_settings", f"{', '.join(clash)} is a credential",
              "keep credentials out of group data: set them in the environment or secrets.env")
    out["acme_dns_settings"] = tuple(sorted((k, str(v)) for k, v in settings.items()))

    resolvers = raw.get("acme_dns_resolvers", [])
    if not isinstance(resolvers, (list, tuple)) or not all(
        isinstance(r, str) and re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", r) for r in resolvers
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


# Keys of pyinfra itself in host.data: the connectors' (ssh_user, docker_container_id, ...),
# and the global arguments and private names (_sudo, _CACHE) that start with `_`.
PYINFRA_KEY_PREFIXES = ("_", "ssh_", "docker_", "dockerssh_", "podman_", "podmanssh_",
                        "chroot_", "local_", "fake_", "winrm_", "vagrant_", "terraform_")


def _data_keys(data: Any) -> dict[str, Any]:
    """Every key of host.data (pyinfra's HostData: .dict()) or of a plain mapping."""
    if isinstance(data, Mapping):
        return dict(data)
    as_dict = getattr(data, "dict", None)
    return as_dict() if callable(as_dict) else {}


def _check_unknown_keys(data: Any, c: _Collector) -> None:
    """A misspelt key would silently fall back to its default: name it instead."""
    for name, value in sorted(_data_keys(data).items(), key=lambda item: str(item[0])):
        if name in SITE_KEYS or isinstance(value, ModuleType) or (
                isinstance(name, str) and name.startswith(PYINFRA_KEY_PREFIXES)):
            continue
        close = difflib.get_close_matches(str(name), sorted(SITE_KEYS), n=1)
        if close:
            c.add(str(name), "is not a known key", f"did you mean {close[0]!r}? Rename it, or "
                  "remove it")
        elif isinstance(name, str) and ENV_NAME_RE.fullmatch(name):
            c.add(name, "looks like an environment variable, which does not belong in group "
                  "data", "put secrets in secrets.env or the environment, and DNS provider "
                  "settings in acme_dns_settings")
        else:
            c.add(str(name), "is not a known key", "remove it, or check its spelling against "
                  "the README's data keys (a helper in a group data file needs a leading '_')")


def _check_subids(raw: Mapping[str, Any], uid: int | None, c: _Collector) -> tuple[int, int]:
    start = raw.get("subid_start", Site.subid_start)
    count = raw.get("subid_count", Site.subid_count)
    fix = f"use e.g. subid_start = {Site.subid_start} and subid_count = {Site.subid_count}"
    if isinstance(start, bool) or not isinstance(start, int):
        c.add("subid_start", f"{start!r} is not a whole number", fix)
        start = None
    if isinstance(count, bool) or not isinstance(count, int):
        c.add("subid_count", f"{count!r} is not a whole number", fix)
        count = None
    if start is not None and count is not None and uid is not None and (
            start <= uid < start + count):
        c.add("subid_start", f"the range {start}-{start + count - 1} contains "
              f"service_account_uid {uid}", f"start the range above every uid: {fix}")
    elif start is not None and start < SUBID_MIN:
        c.add("subid_start", f"{start} is inside the range of normal uids (it must be at least "
              f"{SUBID_MIN})", fix)
    if count is not None and count < SUBID_COUNT_MIN:
        c.add("subid_count", f"{count} is too few: the image's uids 0-65535 must all map",
              f"give at least {SUBID_COUNT_MIN}")
    if start is not None and count is not None and start + count > SUBID_END_MAX:
        c.add("subid_start", f"the range ends at {start + count - 1}, beyond the largest uid "
              f"{SUBID_END_MAX - 1}", fix)
    return (start if start is not None else Site.subid_start,
            count if count is not None else Site.subid_count)


def _inside(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def _check_workspace_base(base: Any, account: Any, c: _Collector) -> str:
    """A dedicated, normalized absolute directory: people's folders become its children."""
    from operations import layout  # layout imports this module

    fix = "use a dedicated directory, e.g. '/var/lib/vscode' or '/srv/vscode'"
    if not isinstance(base, str) or not base.startswith("/"):
        c.add("workspace_base", f"{base!r} is not an absolute path", fix)
        return Site.workspace_base
    path = base.rstrip("/") or "/"
    if path != "/" and not SERVER_PATH_RE.fullmatch(path) or any(
            part in (".", "..") for part in path.split("/")):
        c.add("workspace_base", f"{base!r} is not a plain normalized path (no '//', '.', '..', "
              "spaces or other special characters)", fix)
        return Site.workspace_base
    if path in SYSTEM_DIRS or any(_inside(path, tree) for tree in SYSTEM_TREES):
        c.add("workspace_base", f"{base!r} is a system directory, or inside one (people's "
              "folders would be created and archived there)", fix)
        return path
    ours = [layout.ACME_DIR, layout.LANDING_ROOT, layout.ETC_DIR]
    if isinstance(account, str):
        ours.append(layout.ACCOUNT_HOME.format(account=account))  # the account's home: podman's storage, the build
    for other in ours:
        if _inside(path, other) or _inside(other, path):
            c.add("workspace_base", f"{base!r} overlaps {other}, which the deploy uses for "
                  "something else (a person could be named like one of its entries)", fix)
    return path


def _check_backup(raw: Mapping[str, Any], base: str, c: _Collector) -> dict[str, Any]:
    """The backup keys as Site fields: a restic repository outside workspace_base, the names
    of its backend's credentials, and how many daily, weekly and monthly snapshots to keep."""
    out: dict[str, Any] = {}
    repo = raw.get("backup_repository", DEFAULT_BACKUP_REPOSITORY)
    fix = (f"give a local directory outside workspace_base (default {DEFAULT_BACKUP_REPOSITORY!r})"
           " or a restic URL such as 'sftp:backup@host:/srv/restic' or "
           "'s3:s3.amazonaws.com/bucket/vscode'")
    scheme, _, rest = repo.partition(":") if isinstance(repo, str) else ("", "", "")
    if not isinstance(repo, str) or not repo or not repo.isprintable() or any(
            ch.isspace() for ch in repo):
        c.add("backup_repository", f"{repo!r} is not a restic repository (one line, no spaces)",
              fix)
    elif repo.startswith("/") or scheme == "local":
        path = repo if repo.startswith("/") else rest
        if not SERVER_PATH_RE.fullmatch(path) or any(p in (".", "..") for p in path.split("/")):
            c.add("backup_repository", f"{repo!r} is not a plain normalized absolute path", fix)
        elif _inside(path, base) or _inside(base, path):
            c.add("backup_repository", f"{repo!r} overlaps workspace_base {base!r}: the backup "
                  "would back itself up, and a restore would move it", fix)
        elif path in SYSTEM_DIRS or any(_inside(path, t) for t in SYSTEM_TREES):
            c.add("backup_repository", f"{repo!r} is a system directory, or inside one", fix)
    elif scheme not in RESTIC_SCHEMES or not rest:
        c.add("backup_repository", f"{repo!r} is neither an absolute path nor a restic URL "
              f"({', '.join(s + ':' for s in RESTIC_SCHEMES)})", fix)
    out["backup_repository"] = repo

    if "backup_credentials" in raw:
        creds = _key_names(raw["backup_credentials"], "backup_credentials", c,
                           example="AWS_ACCESS_KEY_ID") or ()
        for name in creds:
            if name in RESTIC_OWN_NAMES:
                c.add("backup_credentials", f"{name} is set by the deploy itself",
                      f"remove it; the repository's password is {BACKUP_PASSWORD_VARIABLE} in "
                      "secrets.env, the repository is backup_repository")
        out["backup_credentials"] = tuple(creds)

    keep = {}
    for period in ("daily", "weekly", "monthly"):
        key = f"backup_keep_{period}"
        value = raw.get(key, getattr(Site, key))
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= KEEP_MAX:
            c.add(key, f"{value!r} is not a whole number from 0 to {KEEP_MAX}",
                  f"give how many {period} snapshots to keep, e.g. {getattr(Site, key)}")
            value = getattr(Site, key)
        keep[key] = value
    if not any(keep.values()):
        c.add("backup_keep_daily", "every backup_keep_* is 0, so restic would keep no snapshot",
              "keep at least one, e.g. backup_keep_daily = 7")
    out.update(keep)
    return out


def _check_image(value: Any, key: str, c: _Collector, tagged: bool) -> None:
    """An image reference podman accepts: registry/path, with (`tagged`) a tag or digest."""
    example = ("docker.io/codercom/code-server:4.139.1" if tagged
               else "localhost/vscode-workspace")
    if not isinstance(value, str):
        c.add(key, f"{value!r} is not an image name", f"write e.g. {example!r}")
        return
    rest, _, digest = value.partition("@")
    name, tag = rest, ""
    if rest.rfind(":") > rest.rfind("/"):
        name, _, tag = rest.rpartition(":")
    m = IMAGE_NAME_RE.fullmatch(name)
    if not m or len(name) > IMAGE_NAME_MAX or (
            "@" in value and not IMAGE_DIGEST_RE.fullmatch(digest)) or (
            name != rest and not IMAGE_TAG_RE.fullmatch(tag)):
        c.add(key, f"{value!r} is not an image reference podman accepts (lowercase path "
              "components, an optional :tag, at most 255 characters)", f"write e.g. {example!r}")
        return
    domain = m.group("domain")
    if not domain or not ("." in domain or ":" in domain or domain == "localhost"):
        c.add(key, f"{value!r} names no registry, and podman's short-name resolution may ask "
              "or pick another image", f"write the registry too, e.g. {example!r}")
    if not tagged and (tag or digest):
        c.add(key, f"{value!r} has a tag or digest, but the deploy tags the image with a hash "
              "of its inputs", f"write the name only, e.g. {example!r}")
    if tagged and not (tag or digest):
        c.add(key, f"{value!r} has no tag, so the build would float with ':latest'",
              f"pin a version, e.g. {example!r}")


def load(data: Any) -> Site:
    """Build the typed Site from host.data (or any mapping), or raise ConfigError."""
    raw: dict[str, Any] = {k: data.get(k) for k in SITE_KEYS if data.get(k) is not None}
    c = _Collector()
    _check_unknown_keys(data, c)

    domain = _check_domain(raw.get("domain"), c)
    problems_before = len(c.problems)
    defaults = _limits(raw, str, SEED_LIMITS, c)
    if len(c.problems) > problems_before:
        defaults = SEED_LIMITS  # report bad site defaults once, not again under every user

    account = raw.get("service_account", Site.service_account)
    if not isinstance(account, str) or not ACCOUNT_NAME_RE.fullmatch(account) or \
            account == "root":
        c.add("service_account", f"{account!r} is not a usable unprivileged account name",
              "use a lowercase name such as 'codeserver'")
    uid = raw.get("service_account_uid", Site.service_account_uid)
    uid_ok = not isinstance(uid, bool) and isinstance(uid, int) and 1000 <= uid < 60000
    if not uid_ok:
        c.add("service_account_uid", f"{uid!r} is not a uid from 1000 to 59999",
              "pick a free uid, e.g. 1500")
    subid_start, subid_count = _check_subids(raw, uid if uid_ok else None, c)
    base = _check_workspace_base(raw.get("workspace_base", Site.workspace_base), account, c)
    image_name = raw.get("image_name", Site.image_name)
    _check_image(image_name, "image_name", c, tagged=False)
    image_base = raw.get("image_base", PRODUCTION_BASE_IMAGE)
    _check_image(image_base, "image_base", c, tagged=True)

    archive = raw.get("image_base_archive")
    if archive is not None and (not isinstance(archive, str) or not Path(archive).is_file()):
        c.add("image_base_archive", f"{archive!r} is not a file on this machine",
              "point it at a `podman save` archive, or remove the key to pull image_base")

    build_ca = raw.get("image_build_ca")
    if build_ca is not None and "BEGIN CERTIFICATE" not in _read_text(build_ca):
        c.add("image_build_ca", f"{build_ca!r} is not a PEM certificate bundle on this machine",
              "point it at the proxy's CA bundle (PEM), or remove the key")

    vsix = raw.get("image_extension_vsix")
    if vsix is not None and (not isinstance(vsix, str) or not Path(vsix).is_file()
                             or not VSIX_RE.fullmatch(Path(vsix).name)):
        c.add("image_extension_vsix", f"{vsix!r} is not a file named publisher.name-X.Y.Z.vsix",
              "point it at the opencode extension's .vsix, e.g. sst-dev.opencode-1.18.33.vsix, "
              "or remove the key to download it from Open VSX")

    registry = raw.get("image_npm_registry")
    if registry is not None and (not isinstance(registry, str) or not URL_RE.fullmatch(
            registry)):
        c.add("image_npm_registry", f"{registry!r} is not an http(s) URL",
              "give your npm registry's URL, or remove the key to use the one your npm uses")

    ai_keys = _key_names(raw.get("ai_keys", list(DEFAULT_AI_KEYS)), "ai_keys", c) or ()

    users_raw = raw.get("users")
    users: list[User] = []
    if not isinstance(users_raw, Mapping) or not users_raw:
        c.add("users", "no users are defined",
              "add users = {'alice': {'port': 8081}}, and the password hash to secrets.env "
              "(python3 -m tools.adduser alice prints both)")
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
    backup = _check_backup(raw, base, c)

    if c.problems:
        raise ConfigError(c.problems)
    return Site(
        **tls,
        **backup,
        domain=domain,
        users=tuple(sorted(users, key=lambda u: u.name)),
        workspace_base=base,
        service_account=account,
        service_account_uid=uid,
        subid_start=subid_start,
        subid_count=subid_count,
        image_base=image_base,
        image_base_archive=archive,
        image_build_ca=build_ca,
        image_extension_vsix=vsix,
        ai_keys=ai_keys,
        image_name=image_name,
        image_npm_registry=registry.rstrip("/") if registry else None,
        defaults=defaults,
    )
