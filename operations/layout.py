"""Every name and path the deploy gives things on the host, in one place.

Per person: the unit, container, quadlet, password secret, vhost and directories, each with
its glob and its inverse (a file name back to the person). Site-wide: the fixed files,
units and folders. Operations, templates (which receive paths as values) and tests all take
names from here. Fixed resources carry names no valid person name can produce
(tests/unit/test_layout.py proves it): person names are `[a-z][a-z0-9-]*`, so a fixed name
contains `_`, or lives under another prefix.

`snapshot_args(site)` lists every path, listing and unit the operations compare, so that the
deploy reads them all in one command (operations/snapshot.py).
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

from operations.model import USER_NAME_RE, Site, User, ai_secret

# -- per person ------------------------------------------------------------------------
UNIT_PREFIX = "code-server-"
QUADLET_GLOB = f"{UNIT_PREFIX}*.container"
VHOST_PREFIX = "vscode-"
VHOST_GLOB = f"{VHOST_PREFIX}*.conf"


def container(user: User) -> str:
    return f"{UNIT_PREFIX}{user.name}"


def unit(user: User) -> str:
    return f"{container(user)}.service"


def quadlet_file(user: User) -> str:
    return f"{container(user)}.container"


def password_secret(user: User) -> str:
    return f"{container(user)}-password"


def vhost_file(user: User) -> str:
    return f"{VHOST_PREFIX}{user.name}.conf"


def _person(name: str, prefix: str, suffix: str) -> str | None:
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    person = name[len(prefix):len(name) - len(suffix)]
    return person if USER_NAME_RE.match(person) else None


def person_of_quadlet(filename: str) -> str | None:
    """code-server-alice.container -> alice; None for anything that is not a person's."""
    return _person(filename, UNIT_PREFIX, ".container")


def person_of_vhost(filename: str) -> str | None:
    """vscode-alice.conf -> alice; None for anything that is not a person's."""
    return _person(filename, VHOST_PREFIX, ".conf")


def person_of_secret(name: str) -> str | None:
    """code-server-alice-password -> alice; None for the shared keys' secrets."""
    return _person(name, UNIT_PREFIX, "-password")


# -- the service account -----------------------------------------------------------------
ACCOUNT_HOME = "/var/lib/{account}"


def account_home(site: Site) -> str:
    return ACCOUNT_HOME.format(account=site.service_account)


def quadlet_dir(site: Site) -> str:
    """Admin-managed, root-owned quadlets for the rootless account (podman's users/<uid>/)."""
    return f"/etc/containers/systemd/users/{site.service_account_uid}"


def runtime_dir(site: Site) -> str:
    return f"/run/user/{site.service_account_uid}"


def account_bus(site: Site) -> str:
    return f"{runtime_dir(site)}/bus"


def account_environment(site: Site) -> dict[str, str]:
    """What podman and `systemctl --user` need to run as the account: its runtime dir and
    user bus (without the bus, podman falls back to cgroupfs)."""
    return {"XDG_RUNTIME_DIR": runtime_dir(site),
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={account_bus(site)}"}


def as_account(site: Site, command: str, stdin_from: str | None = None) -> str:
    """A shell command run as the rootless account with its user bus, from root.

    stdin_from: a root-only file piped in (podman secrets want a pipe, not a file)."""
    pipe = f"cat {stdin_from} | " if stdin_from else ""
    env = " ".join(f"{k}={v}" for k, v in account_environment(site).items())
    return f"cd / && {pipe}runuser -u {site.service_account} -- env {env} {command}"


def as_account_quietly(site: Site) -> str:
    """The prefix of a command run as the account from a root script that runs on a timer:
    setpriv, which opens no PAM session (runuser logs two journal lines per call)."""
    uid, env = site.service_account_uid, account_environment(site)
    env |= {"HOME": account_home(site), "USER": site.service_account,
            "LOGNAME": site.service_account}
    return (f"cd / && setpriv --reuid={uid} --regid={uid} --init-groups env "
            + " ".join(f"{k}={v}" for k, v in env.items()))


def linger_file(site: Site) -> str:
    return f"/var/lib/systemd/linger/{site.service_account}"


# -- storage -------------------------------------------------------------------------------
def user_dir(site: Site, user: User) -> str:
    return f"{site.workspace_base}/{user.name}"


def home_dir(site: Site, user: User) -> str:
    """The person's whole home (/home/coder): dotfiles, SSH keys, shell history, the AI
    login, `pip install --user` tools. The workspace and config are mounted inside it."""
    return f"{user_dir(site, user)}/home"


def workspace_dir(site: Site, user: User) -> str:
    return f"{user_dir(site, user)}/workspace"


def config_dir(site: Site, user: User) -> str:
    return f"{user_dir(site, user)}/config"


def archive_dir(site: Site) -> str:
    """Where a removed person's directory is moved, dated; never deleted (`.` is no name)."""
    return f"{site.workspace_base}/.archive"


def archived(site: Site, user: User, stamp: str, why: str) -> str:
    """What a restore or a reset moves aside: <archive>/alice-20261204-031500-before-restore."""
    return f"{archive_dir(site)}/{user.name}-{stamp}-{why}"


# Inside the container (the image's contract, as in codercom/code-server).
CONTAINER_HOME = "/home/coder"
CONTAINER_PROJECT = f"{CONTAINER_HOME}/project"
CONTAINER_DATA = f"{CONTAINER_HOME}/.local/share/code-server"
CONTAINER_OPENCODE_CONFIG = "/etc/opencode/opencode.json"


def home_mount_points(site: Site, user: User) -> list[str]:
    """The folders in the person's home on the host down to where the workspace and the
    config are mounted (project, .local, .local/share, .local/share/code-server), parents
    first. The deploy makes them as coder's: the container runtime would make missing ones
    as root, and coder could not write to ~/.local."""
    points: list[str] = []
    for inside in (CONTAINER_PROJECT, CONTAINER_DATA):
        parts = PurePosixPath(inside).relative_to(CONTAINER_HOME).parts
        for depth in range(1, len(parts) + 1):
            point = "/".join((home_dir(site, user), *parts[:depth]))
            if point not in points:
                points.append(point)
    return points

# -- secrets and site config -------------------------------------------------------------
ETC_DIR = "/etc/vscode"
SECRETS_DIR = f"{ETC_DIR}/secrets"  # root-only: what the podman secrets were made from
OPENCODE_CONFIG = f"{ETC_DIR}/opencode.json"

# -- the image build -----------------------------------------------------------------------
UPLOADED_BASE = "/var/tmp/vscode-base-image.tar"
EXTENSIONS_GLOB = "*.vsix"


def build_dir(site: Site) -> str:
    return f"{account_home(site)}/image-build"


# -- boot ----------------------------------------------------------------------------------
SYSTEM_UNITS = "/etc/systemd/system"
BOOT_UNIT = "vscode-workspaces.service"
BOOT_SCRIPT = "/usr/local/sbin/vscode-workspaces-start"

# -- nginx ---------------------------------------------------------------------------------
NGINX_AVAILABLE = "/etc/nginx/sites-available"
NGINX_ENABLED = "/etc/nginx/sites-enabled"
# Where a site on the host may declare a default server (nginx.conf includes these).
NGINX_CONFIGS = ("/etc/nginx/nginx.conf", "/etc/nginx/conf.d/*.conf", f"{NGINX_ENABLED}/*")
CATCHALL = "vscode_catchall.conf"  # `_`: no person's vhost can be called this
TLS_SNIPPET = "/etc/nginx/snippets/vscode-tls.conf"
NGINX_STATE = "/var/lib/vscode-nginx"  # root-only
NGINX_LAST_GOOD = f"{NGINX_STATE}/last-good.tar"  # our nginx files as they last passed nginx -t
LANDING_ROOT = "/var/www/vscode-landing"
LANDING_PAGE = f"{LANDING_ROOT}/404.html"
LOGIN_LIMIT_PAGE = f"{LANDING_ROOT}/429.html"  # too many passwords from one address
LOGIN_LIMIT_URI = "/_vscode/too-many-logins.html"  # where the vhosts serve it (internal)


def hostname(site: Site, user: User) -> str:
    return f"{user.name}.{site.domain}"


# -- certificates ----------------------------------------------------------------------------
CERT_SCRIPT = "/usr/local/sbin/vscode-cert"
RENEW_UNIT = "vscode-cert-renew"
ACME_DIR = "/var/lib/vscode-acme"  # lego's --path: account key and certificates; root-only
ACME_ENV_FILE = f"{ETC_DIR}/acme.env"  # root-only: the DNS provider's credentials


def certificate_file(site: Site) -> str:
    if site.tls_mode == "certificate":
        return str(site.tls_certificate)
    return f"{ACME_DIR}/certificates/_.{site.domain}.crt"  # lego's file name


def certificate_json(site: Site) -> str:
    """lego's record of the certificate (its certUrl names the ACME server); acme mode only."""
    if site.tls_mode != "acme":
        return ""
    return f"{ACME_DIR}/certificates/_.{site.domain}.json"


def certificate_key_file(site: Site) -> str:
    if site.tls_mode == "certificate":
        return str(site.tls_certificate_key)
    return f"{ACME_DIR}/certificates/_.{site.domain}.key"


# -- backups ---------------------------------------------------------------------------------
BACKUP_SCRIPT = "/usr/local/sbin/vscode-backup"
BACKUP_UNIT = "vscode-backup"  # .service backs up, .timer runs it daily
BACKUP_CHECK_UNIT = "vscode-backup-check"  # .service reads a subset, .timer runs it weekly
BACKUP_ENV_FILE = f"{ETC_DIR}/backup.env"  # root-only: repository, password, credentials
BACKUP_CACHE = "/var/cache/vscode-backup"  # restic's cache (root-only)
BACKUP_STATE = "/var/lib/vscode-backup"  # which repositories the deploy has initialised
BACKUP_TAG = "vscode"  # every snapshot the deploy's backups make
ARCHIVE_TAG = "archive"  # the snapshot of the removed people's folders
WARMUP_TAG = "first-pass"  # a run's unpaused first pass, forgotten at the end of the run
PERSON_TAG_PREFIX = "person="


def backup_tag(user: User) -> str:
    """The restic tag of a person's snapshots: person=alice."""
    return f"{PERSON_TAG_PREFIX}{user.name}"


def repository_marker(site: Site) -> str:
    """Exists once the deploy has created or opened this repository (a new repository gets
    a new marker, so it is initialised again)."""
    digest = hashlib.sha256(site.backup_repository.encode()).hexdigest()[:16]
    return f"{BACKUP_STATE}/repository-{digest}"


def restore_staging(site: Site, user: User, stamp: str) -> str:
    """Where a restore unpacks before anything of the person's moves (same file system as
    their folder; a leading `.` is no person's name)."""
    return f"{site.workspace_base}/.restore-{user.name}-{stamp}"


def host_path(site: Site, user: User, path: str) -> str:
    """A path as the person sees it, on the host: relative to their workspace folder
    (project), or absolute inside the container (/home/coder/...). Raises ValueError for
    anything outside the person's folders."""
    parts = PurePosixPath(path).parts
    if ".." in parts or not parts:
        raise ValueError(f"{path!r}: give a path inside the workspace, without '..'")
    if not path.startswith("/"):
        return str(PurePosixPath(workspace_dir(site, user), path))
    for inside, outside in ((CONTAINER_PROJECT, workspace_dir(site, user)),
                            (CONTAINER_DATA, config_dir(site, user)),
                            (CONTAINER_HOME, home_dir(site, user))):
        if path == inside or path.startswith(inside + "/"):
            return outside + path[len(inside):]
    raise ValueError(f"{path!r} is not inside the person's home ({CONTAINER_HOME})")


# -- alerts ----------------------------------------------------------------------------------
ALERT_SCRIPT = "/usr/local/sbin/vscode-alert"
ALERT_UNIT = "vscode-alert@"  # a template: vscode-alert@<failed unit>.service
ALERT_ENV_FILE = f"{ETC_DIR}/alert.env"  # root-only: the webhook URL (empty: alerts off)


def on_failure(unit_placeholder: str = "%n") -> str:
    """What a unit's OnFailure= names: the alert for that unit."""
    return f"{ALERT_UNIT}{unit_placeholder}.service"


# A workspace unit runs in the account's user manager, which cannot start a system unit: its
# OnFailure= starts FAILED_UNIT there, which leaves the unit's name in the spool folder, and
# the system's ALERT_SPOOL_UNIT.path sees it and posts the alert as root.
FAILED_UNIT = "vscode-failed@"  # the account's user unit: vscode-failed@<unit>.service
ALERT_SPOOL_UNIT = "vscode-alert-spool"  # .path watches the spool, .service posts


def alert_spool_dir(site: Site) -> str:
    return f"{account_home(site)}/alerts"


def account_config_dirs(site: Site) -> list[str]:
    """~/.config/systemd/user of the account, parents first: its own user units."""
    home = account_home(site)
    return [f"{home}/.config", f"{home}/.config/systemd", f"{home}/.config/systemd/user"]


def failed_unit_file(site: Site) -> str:
    return f"{account_config_dirs(site)[-1]}/{FAILED_UNIT}.service"


# Every fixed name above that lives in a folder persons' names also live in, for the proof
# that no person can collide with one (tests/unit/test_layout.py).
# -- rollout, daily check, memory guard ---------------------------------------------------
ROLLOUT_SCRIPT = "/usr/local/sbin/vscode-rollout"  # one person's unit: swap, restart, gate, roll back
ROLLOUT_STATE = "/var/lib/vscode-rollout"  # root-only: staged units, each person's previous unit
SPEC_LABEL = "vscode.spec"  # a container's label: the hash of the unit it was started from


def staged_unit(user: User) -> str:
    """Where the deploy puts a person's new unit for vscode-rollout to swap in."""
    return f"{ROLLOUT_STATE}/{quadlet_file(user)}"


def rollout_files(user: User) -> tuple[str, str]:
    """vscode-rollout's UNIT.previous (the last unit on another image that served) and
    UNIT.rollback (the unit that served when an unfinished step began)."""
    return f"{ROLLOUT_STATE}/{unit(user)}.previous", f"{ROLLOUT_STATE}/{unit(user)}.rollback"


def image_ref_globs(site: Site) -> list[str]:
    """The files whose Image= lines name the images the rollout keeps."""
    return [f"{quadlet_dir(site)}/{QUADLET_GLOB}", f"{ROLLOUT_STATE}/*.previous",
            f"{ROLLOUT_STATE}/*.rollback"]


DAILY_CHECK_SCRIPT = "/usr/local/sbin/vscode-daily-check"
DAILY_CHECK_UNIT = "vscode-daily-check"  # .service checks certificate, disk, backup; .timer daily
MEMORY_GUARD_SCRIPT = "/usr/local/sbin/vscode-memory-guard"
MEMORY_GUARD_UNIT = "vscode-memory-guard"  # .service: ends a runaway at the soft memory limit


FIXED_NAMES = (CATCHALL, BOOT_UNIT, f"{RENEW_UNIT}.service", f"{RENEW_UNIT}.timer",
               *(f"{u}.{kind}" for u in (BACKUP_UNIT, BACKUP_CHECK_UNIT)
                 for kind in ("service", "timer")), f"{ALERT_UNIT}.service",
               f"{ALERT_SPOOL_UNIT}.path", f"{ALERT_SPOOL_UNIT}.service",
               f"{DAILY_CHECK_UNIT}.service", f"{DAILY_CHECK_UNIT}.timer",
               f"{MEMORY_GUARD_UNIT}.service")


def snapshot_args(site: Site, packages: list[str], image_context: list[str],
                  shared_keys: list[str]) -> dict:
    """The arguments of SnapshotFact: everything the operations compare, for this site."""
    build = build_dir(site)
    paths = [
        site.workspace_base, archive_dir(site), SECRETS_DIR, quadlet_dir(site),
        "/etc/subuid", "/etc/subgid", linger_file(site),
        OPENCODE_CONFIG, BOOT_SCRIPT, f"{SYSTEM_UNITS}/{BOOT_UNIT}",
        LANDING_ROOT, LANDING_PAGE, LOGIN_LIMIT_PAGE, TLS_SNIPPET, NGINX_LAST_GOOD,
        f"{NGINX_AVAILABLE}/{CATCHALL}", f"{NGINX_ENABLED}/{CATCHALL}",
        ACME_ENV_FILE, ACME_DIR, CERT_SCRIPT,
        f"{SYSTEM_UNITS}/{RENEW_UNIT}.service", f"{SYSTEM_UNITS}/{RENEW_UNIT}.timer",
        ROLLOUT_SCRIPT, ROLLOUT_STATE,
        ALERT_SCRIPT, ALERT_ENV_FILE, f"{SYSTEM_UNITS}/{ALERT_UNIT}.service",
        alert_spool_dir(site), *account_config_dirs(site), failed_unit_file(site),
        f"{SYSTEM_UNITS}/{ALERT_SPOOL_UNIT}.path", f"{SYSTEM_UNITS}/{ALERT_SPOOL_UNIT}.service",
        MEMORY_GUARD_SCRIPT, f"{SYSTEM_UNITS}/{MEMORY_GUARD_UNIT}.service",
        DAILY_CHECK_SCRIPT, f"{SYSTEM_UNITS}/{DAILY_CHECK_UNIT}.service",
        f"{SYSTEM_UNITS}/{DAILY_CHECK_UNIT}.timer",
        BACKUP_SCRIPT, BACKUP_ENV_FILE, BACKUP_CACHE, BACKUP_STATE, repository_marker(site),
        *(f"{SYSTEM_UNITS}/{u}.{kind}" for u in (BACKUP_UNIT, BACKUP_CHECK_UNIT)
          for kind in ("service", "timer")),
        build, f"{build}/extensions", f"{build}/build-ca.pem",
        *(f"{build}/{name}" for name in image_context),
        *(f"{SECRETS_DIR}/{ai_secret(name)}" for name in shared_keys),
    ]
    for user in site.users:
        paths += [
            user_dir(site, user), workspace_dir(site, user), config_dir(site, user),
            home_dir(site, user), *home_mount_points(site, user),
            f"{quadlet_dir(site)}/{quadlet_file(user)}",
            f"{SECRETS_DIR}/{password_secret(user)}",
            f"{NGINX_AVAILABLE}/{vhost_file(user)}", f"{NGINX_ENABLED}/{vhost_file(user)}",
        ]
    return {
        "paths": sorted(set(paths)),
        "listings": [(quadlet_dir(site), QUADLET_GLOB), (NGINX_AVAILABLE, VHOST_GLOB),
                     (NGINX_ENABLED, VHOST_GLOB), (f"{build}/extensions", EXTENSIONS_GLOB)],
        "units": ["nginx.service", f"user@{site.service_account_uid}.service", BOOT_UNIT,
                  f"{RENEW_UNIT}.timer", f"{BACKUP_UNIT}.timer", f"{BACKUP_CHECK_UNIT}.timer",
                  f"{ALERT_SPOOL_UNIT}.path", f"{MEMORY_GUARD_UNIT}.service",
                  f"{DAILY_CHECK_UNIT}.timer"],
        "packages": packages,
        "account": site.service_account,
        "groups": [site.service_account],
        "as_account": as_account(site, ""),
        "account_bus": account_bus(site),
        "user_unit_glob": f"{UNIT_PREFIX}*",
        "certificate": certificate_file(site),
        "certificate_json": certificate_json(site),
        "nginx_configs": list(NGINX_CONFIGS),
        "spec_label": SPEC_LABEL,
        "image_refs": image_ref_globs(site),
    }
