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
