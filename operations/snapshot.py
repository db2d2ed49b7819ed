"""The host as the deploy finds it, read in one remote command.

pyinfra's stock operations each read their own facts: two or three commands per file, unit
and secret, about 100 for two people, at 0.4 s each on a slow host. Instead, deploy.py reads
one `Snapshot` of everything the operations manage: platform, packages, accounts, every
managed path (type, mode, owner, sha256 or link target), directory listings, system units,
the account's podman images, secrets and user units, and the certificate's names. The
operations compare what they want with it and emit a pyinfra operation only where something
differs. A run that changes nothing therefore runs one command for its facts, whatever the
number of people; a run that must change one file emits that one operation, which reads its
own facts and reports the change in `--json` as before.

Every line of the command's output is `TAG<TAB>field<TAB>...`; the command always exits 0,
so a fresh host (no account, no podman, no files) is simply an empty snapshot.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyinfra.api import FactBase


@dataclass(frozen=True)
class PathState:
    kind: str  # "file", "dir" or "link"
    mode: str = ""  # octal, as find -printf %m prints it ("644")
    user: str = ""
    group: str = ""
    sha256: str = ""  # files only
    target: str = ""  # links only


@dataclass
class Snapshot:
    os_id: str = ""
    os_version: str = ""
    os_name: str = ""
    podman_installed: str = ""
    podman_candidate: str = ""
    packages: set[str] = field(default_factory=set)  # installed ("ii") packages
    passwd: dict[str, dict] = field(default_factory=dict)  # name -> uid, gid, home, shell
    groups: dict[str, int] = field(default_factory=dict)  # the asked-for groups -> gid
    subids: dict[str, set[str]] = field(default_factory=dict)  # /etc/subuid -> lines of ours
    paths: dict[str, PathState] = field(default_factory=dict)
    listings: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)  # unit -> (active, enabled)
    account_ready: bool = False  # the account's user manager and bus are up
    images: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    user_units: dict[str, str] = field(default_factory=dict)  # unit -> ActiveState
    # running containers -> their spec label (the hash of the unit they were started from)
    running: dict[str, str] = field(default_factory=dict)
    image_refs: dict[str, str] = field(default_factory=dict)  # unit file -> its Image=
    certificate_names: list[str] = field(default_factory=list)
    certificate_end: int | None = None  # epoch seconds of notAfter
    certificate_url: str = ""  # where lego fetched it (its .json): which ACME server issued it
    now: int = 0  # the host's clock, epoch seconds
    # nginx `listen` arguments with default_server: (file, "443 ssl default_server")
    nginx_defaults: list[tuple[str, str]] = field(default_factory=list)

    # -- comparisons the operations use ---------------------------------------------------
    def file_is(self, path: str, content: bytes, mode: str, user: str = "root",
                group: str = "root") -> bool:
        have = self.paths.get(path)
        return (have is not None and have.kind == "file"
                and have.sha256 == hashlib.sha256(content).hexdigest()
                and (have.mode, have.user, have.group) == (mode.lstrip("0") or "0", user, group))

    def dir_is(self, path: str, mode: str, user: str = "root", group: str = "root") -> bool:
        have = self.paths.get(path)
        return (have is not None and have.kind == "dir"
                and (have.mode, have.user, have.group) == (mode.lstrip("0") or "0", user, group))

    def link_is(self, path: str, target: str) -> bool:
        have = self.paths.get(path)
        return have is not None and have.kind == "link" and have.target == target

    def exists(self, path: str) -> bool:
        return path in self.paths

    def listing(self, directory: str, pattern: str) -> list[str]:
        return self.listings.get((directory, pattern), [])

    def unit_running(self, unit: str) -> bool:
        return self.units.get(unit, ("", ""))[0] == "active"

    def unit_enabled(self, unit: str) -> bool:
        return self.units.get(unit, ("", ""))[1] == "enabled"


# find's %y: what a path is.
KINDS = {"f": "file", "d": "dir", "l": "link"}


class SnapshotFact(FactBase[Snapshot]):
    """Everything the deploy manages on the host, in one command (see the module doc)."""

    def command(self, paths: Iterable[str], listings: Iterable[tuple[str, str]],
                units: Iterable[str], packages: Iterable[str], account: str, groups: Iterable[str],
                as_account: str, account_bus: str, user_unit_glob: str, certificate: str,
                certificate_json: str = "", nginx_configs: Iterable[str] = (),
                spec_label: str = "", image_refs: Iterable[str] = ()) -> str:
        q = shlex.quote
        parts = [
            "exec 2>/dev/null",
            ". /etc/os-release; printf 'os\\t%s\\t%s\\t%s\\n' \"$ID\" \"$VERSION_ID\" \"$PRETTY_NAME\"",
            "printf 'podman\\t%s\\n' \"$(podman --version)\"",
            # apt's candidate matters only before podman is installed (the preflight).
            "command -v podman >/dev/null || printf 'candidate\\t%s\\n'"
            " \"$(apt-cache policy podman | sed -n 's/^ *Candidate: *//p')\"",
            f"dpkg-query -W -f='pkg\\t${{Package}}\\t${{db:Status-Abbrev}}\\n' {' '.join(map(q, packages))}",
            "getent passwd | awk -F: '{print \"passwd\\t\" $1 \"\\t\" $3 \"\\t\" $4 \"\\t\" $6 \"\\t\" $7}'",
            *(f"getent group {q(g)} | awk -F: '{{print \"group\\t\" $1 \"\\t\" $3}}'" for g in groups),
            *(f"grep -x '{account}:[0-9]*:[0-9]*' {f} | sed 's|^|subid\\t{f}\\t|'"
              for f in ("/etc/subuid", "/etc/subgid")),
            # Two processes for every path: a slow host pays per process, not per byte.
            f"find {' '.join(map(q, paths))} -maxdepth 0"
            " -printf 'path\\t%p\\t%y\\t%m\\t%u\\t%g\\t%l\\n'",
            f"sha256sum -- {' '.join(map(q, paths))} | sed 's/^\\([0-9a-f]*\\)  /sha\\t\\1\\t/'",
            *(f"(cd {q(d)} && ls -1d {pattern}) | sed 's|^|ls\\t{d}\\t{pattern}\\t|'"
              for d, pattern in listings),
            "systemctl show -p Id,ActiveState,UnitFileState " + " ".join(map(q, units))
            + " | awk -F= '/^Id=/{id=$2} /^ActiveState=/{a=$2}"
            " /^UnitFileState=/{e=$2} /^$/{print \"unit\\t\" id \"\\t\" a \"\\t\" e; id=\"\"}"
            " END{if (id != \"\") print \"unit\\t\" id \"\\t\" a \"\\t\" e}'",
            # The account's podman and user manager, queried side by side (each podman
            # process takes seconds on a slow host).
            f"if id -u {q(account)} >/dev/null && [ -S {q(account_bus)} ]; then"
            " echo ready; t=$(mktemp -d);"
            f" {as_account} podman images --format 'image\t{{{{.Repository}}}}:{{{{.Tag}}}}'"
            " > $t/images &"
            f" {as_account} podman secret ls --format 'secret\t{{{{.Name}}}}' > $t/secrets &"
            f" {as_account} systemctl --user list-units --all --plain --no-legend {q(user_unit_glob)}"
            " | awk '{print \"uunit\\t\" $1 \"\\t\" $3}' > $t/units &"
            f" {as_account} podman ps --format"
            f" 'ctr\t{{{{.Names}}}}\t{{{{index .Labels \"{spec_label}\"}}}}' > $t/ctrs &"
            " wait; cat $t/images $t/secrets $t/units $t/ctrs; rm -r $t; fi",
            # Which images the units name (globs, unquoted: the layout's constants).
            *([f"grep -H '^Image=' {' '.join(image_refs)}"
               " | sed 's/^\\([^:]*\\):Image=/imageref\\t\\1\\t/'"] if image_refs else []),
            # Servers nginx answers unknown names with: `listen ... default_server` anywhere
            # in its configuration (globs, unquoted: they are the layout's constants).
            *([f"grep -HE '^[[:space:]]*listen[[:space:]][^;#]*default_server' {' '.join(nginx_configs)}"
               " | sed -nE 's/^([^:]*):[[:space:]]*listen[[:space:]]+([^;]*);.*/default\\t\\1\\t\\2/p'"]
              if nginx_configs else []),
            f"openssl x509 -noout -ext subjectAltName -in {q(certificate)}"
            " | tr ',' '\\n' | sed -n 's/^ *DNS:/cert\\t/p'",
            "printf 'now\\t%s\\n' \"$(date +%s)\"",
            f"d=$(openssl x509 -noout -enddate -in {q(certificate)} 2>/dev/null | cut -d= -f2);"
            " [ -z \"$d\" ] || printf 'certend\\t%s\\n' \"$(date -d \"$d\" +%s)\"",
            *([f"sed -n 's/.*\"certUrl\": *\"\\([^\"]*\\)\".*/certurl\\t\\1/p'"
               f" {q(certificate_json)} 2>/dev/null"] if certificate_json else []),
            "true",
        ]
        return "; ".join(parts)

    def process(self, output: list[str]) -> Snapshot:
        snap = Snapshot()
        hashes: dict[str, str] = {}
        for line in output:
            tag, *f = line.rstrip("\n").split("\t")
            if tag == "os" and len(f) == 3:
                snap.os_id, snap.os_version, snap.os_name = f
            elif tag == "podman" and f:
                snap.podman_installed = f[0]
            elif tag == "candidate" and f:
                snap.podman_candidate = "" if f[0] in ("", "(none)") else f[0]
            elif tag == "pkg" and len(f) == 2 and f[1].startswith("ii"):
                snap.packages.add(f[0])
            elif tag == "passwd" and len(f) == 5:
                snap.passwd[f[0]] = {"uid": int(f[1]), "gid": int(f[2]), "home": f[3],
                                     "shell": f[4]}
            elif tag == "group" and len(f) == 2:
                snap.groups[f[0]] = int(f[1])
            elif tag == "subid" and len(f) == 2:
                snap.subids.setdefault(f[0], set()).add(f[1])
            elif tag == "path" and len(f) == 6 and f[1] in KINDS:
                snap.paths[f[0]] = PathState(KINDS[f[1]], f[2], f[3], f[4], target=f[5])
            elif tag == "sha" and len(f) == 2:
                hashes[f[1]] = f[0]
            elif tag == "ls" and len(f) == 3:
                snap.listings.setdefault((f[0], f[1]), []).append(f[2])
            elif tag == "unit" and len(f) == 3 and f[0]:
                snap.units[f[0]] = (f[1], f[2])
            elif tag == "ready":
                snap.account_ready = True
            elif tag == "image" and f:
                snap.images.add(f[0])
            elif tag == "secret" and f:
                snap.secrets.add(f[0])
            elif tag == "uunit" and len(f) == 2:
                snap.user_units[f[0]] = f[1]
            elif tag == "ctr" and f:
                snap.running[f[0]] = f[1] if len(f) > 1 and f[1] != "<no value>" else ""
            elif tag == "imageref" and len(f) == 2:
                snap.image_refs[f[0]] = f[1]
            elif tag == "default" and len(f) == 2:
                snap.nginx_defaults.append((f[0], f[1]))
            elif tag == "cert" and f:
                snap.certificate_names.append(f[0].strip())
            elif tag == "certend" and f and f[0].isdigit():
                snap.certificate_end = int(f[0])
            elif tag == "certurl" and f:
                snap.certificate_url = f[0]
            elif tag == "now" and f and f[0].isdigit():
                snap.now = int(f[0])
        snap.certificate_names.sort()
        for path, state in snap.paths.items():
            if state.kind == "file":
                snap.paths[path] = PathState("file", state.mode, state.user, state.group,
                                             sha256=hashes.get(path, ""))
        return snap

    @staticmethod
    def default() -> Snapshot:
        return Snapshot()
