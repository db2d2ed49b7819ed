"""Run the real deploy against the lab VM, the way a user runs it: pyinfra over SSH.

Used by `python3 -m lab deploy` and by the lab tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class DeployResult:
    returncode: int
    seconds: float
    output: str  # pyinfra's progress on stderr
    report: dict = field(default_factory=dict)  # pyinfra --json on stdout
    # (seconds since the start, operation name) as each operation started
    steps: list[tuple[float, str]] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        """Names of operations that changed something."""
        ops = self.report.get("results", {}).get("operations", [])
        return [op["name"] for op in ops if op.get("success")]

    @property
    def errors(self) -> list[str]:
        ops = self.report.get("results", {}).get("operations", [])
        return [op["name"] for op in ops if op.get("error")]

    @property
    def commands(self) -> int:
        """Remote commands pyinfra ran (facts and operations), from its --debug log."""
        return sum(1 for line in self.output.splitlines() if "Running command on " in line)

    @property
    def executed(self) -> int:
        """Operations that ran commands on the host (changed or failed)."""
        return len(self.changed) + len(self.errors)


def run(group_data: list[Path] | None = None, log: Path | None = None,
        inventory: str = "inventory.py", echo: bool = False,
        progress: bool = False, repo: Path = REPO) -> DeployResult:
    """`pyinfra -y --json inventory.py deploy.py`, with optional extra group_data dirs.

    echo: pass pyinfra's whole progress output through; progress: only one line per
    operation as it starts. repo: the checkout to deploy from (a test's altered copy)."""
    # --debug logs each remote command (DeployResult.commands counts them); with --diff and
    # -vvv pyinfra is at its most verbose, so the tests can check that no secret is printed.
    cmd = [sys.executable, "-m", "pyinfra", "-y", "--json", "--debug", "--diff", "-vvv",
           inventory, "deploy.py"]
    for extra in group_data or []:
        cmd += ["--group-data", str(extra)]
    start = time.monotonic()
    # stdout (the JSON report, written at the end) goes to a file: a pipe read only after
    # stderr closes would block pyinfra once the report outgrew the pipe's buffer.
    stdout_file = tempfile.TemporaryFile(mode="w+")
    # The lab people's password hashes, as secrets.env would give them; the environment
    # wins (a test that changes a password sets its variable).
    from lab.site import lab_secrets

    env = {**lab_secrets(), **os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=repo, stdout=stdout_file, stderr=subprocess.PIPE,
                            text=True, env=env)
    lines = []
    stamped = []  # the log's copy: seconds into the run before each line (build steps too)
    steps = []
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        stamped.append(f"{time.monotonic() - start:7.1f} {line}")
        if line.startswith("--> Starting operation"):
            steps.append((time.monotonic() - start, line.split(":", 1)[-1].strip()))
        if echo or (progress and line.startswith("--> Starting operation")):
            sys.stderr.write(line)
    proc.wait()
    stdout_file.seek(0)
    stdout = stdout_file.read()
    stdout_file.close()
    seconds = time.monotonic() - start
    output = "".join(lines)
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        started = "".join(f"{t:8.1f}  {name}\n" for t, name in steps)
        log.write_text(f"$ {' '.join(cmd)}\n{''.join(stamped)}\n--- json ---\n{stdout}\n"
                       f"--- seconds into the run when each operation started ---\n{started}")
    try:
        report = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        report = {}
        output += "\n[stdout was not JSON]\n" + stdout
    return DeployResult(proc.returncode, seconds, output, report, steps)
