"""Helpers shared by the lab tools: cache location, input hashing, logging, commands."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path


class LabError(Exception):
    """A failure the CLI reports as one clear line instead of a traceback."""


class CommandError(subprocess.CalledProcessError, LabError):
    """A command failed; str() shows the command, exit code and the tail of its output."""

    def __str__(self) -> str:
        lines = [f"command failed (exit {self.returncode}): {_quote(self.cmd)}"]
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            if text:
                tail = text.rstrip().splitlines()[-40:]
                lines.append(f"--- {name} (last {len(tail)} lines) ---")
                lines.extend(tail)
        return "\n".join(lines)


def cache_dir() -> Path:
    """The lab's only place on disk: $VSCODE_LAB_CACHE or ~/.cache/vscode-lab."""
    path = Path(os.environ.get("VSCODE_LAB_CACHE") or Path.home() / ".cache" / "vscode-lab")
    path.mkdir(parents=True, exist_ok=True)
    return path


def inputs_hash(*parts: bytes | str | Path) -> str:
    """Short sha256 over the parts; a Path stands for its file's contents."""
    outer = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            part = part.read_bytes()
        elif isinstance(part, str):
            part = part.encode()
        # Hash each part separately so that ("ab", "c") and ("a", "bc") differ.
        outer.update(hashlib.sha256(part).digest())
    return outer.hexdigest()[:16]


def log(msg: str) -> None:
    print(f"[lab] {msg}", file=sys.stderr, flush=True)


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    """subprocess.run(check=True) that explains failures.

    stderr is captured (text) unless the caller passes stderr=..., so that a failure can show
    it; pass stderr=None to let a long-running command talk to the terminal directly.
    """
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    try:
        return subprocess.run(cmd, check=True, **kw)
    except FileNotFoundError as e:
        raise LabError(f"{cmd[0]} not found: is it installed?") from e
    except subprocess.CalledProcessError as e:
        error = CommandError(e.returncode, e.cmd, e.stdout, e.stderr)
        log(str(error))
        raise error from None


def _quote(cmd) -> str:
    if isinstance(cmd, (list, tuple)):
        return shlex.join(str(arg) for arg in cmd)
    return str(cmd)


def _apt_source_entries() -> list[tuple[str, list[str]]]:
    """(URI, suites) of every Debian source this machine's apt is configured with."""
    entries: list[tuple[str, list[str]]] = []
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in path.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
                entries += [(uri, fields.get("suites", [])) for uri in fields.get("uris", [])]
    legacy = Path("/etc/apt/sources.list")
    for line in legacy.read_text().splitlines() if legacy.is_file() else []:
        words = [w for w in line.split("#")[0].split() if not w.startswith("[")]
        if len(words) >= 3 and words[0] == "deb":
            entries.append((words[1], [words[2]]))
    return entries


def apt_mirrors() -> tuple[str, str]:
    """(Debian mirror, Debian security mirror) for the lab's debootstraps: this machine's own
    apt configuration, or $VSCODE_LAB_APT_MIRROR and $VSCODE_LAB_APT_SECURITY_MIRROR."""
    main = os.environ.get("VSCODE_LAB_APT_MIRROR")
    security = os.environ.get("VSCODE_LAB_APT_SECURITY_MIRROR")
    for uri, suites in _apt_source_entries():
        if not uri.startswith(("http://", "https://")) or not suites:
            continue
        if all(s.endswith("-security") for s in suites):
            security = security or uri.rstrip("/")
        elif "debian" in uri and not any("ubuntu" in s for s in suites):
            main = main or uri.rstrip("/")
    if not main or not security:
        raise LabError(
            "cannot tell this machine's Debian mirrors from /etc/apt/sources.list(.d): set"
            " VSCODE_LAB_APT_MIRROR (e.g. the URI of your Debian mirror) and"
            " VSCODE_LAB_APT_SECURITY_MIRROR")
    return main, security


def npm_registry() -> str:
    """The npm registry this machine's npm is configured with ($VSCODE_LAB_NPM_REGISTRY wins)."""
    registry = os.environ.get("VSCODE_LAB_NPM_REGISTRY")
    if not registry:
        try:
            registry = subprocess.run(["npm", "config", "get", "registry"], check=True,
                                      capture_output=True, text=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError) as e:
            raise LabError("npm is not installed here, so its registry is unknown: set"
                           " VSCODE_LAB_NPM_REGISTRY") from e
    return registry.rstrip("/")


def point(link: Path, target: Path) -> Path:
    """Make `link` a symlink to `target` (atomically): the stable name group_data/lab.py uses."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)
    return link
