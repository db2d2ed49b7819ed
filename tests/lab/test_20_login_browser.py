"""A person's first visit, in a real headless Chromium (tests/browser/workspace.mjs), over
HTTPS with the certificate from the lab's ACME server, whose roots Chromium trusts (imported
into its NSS store; no certificate error is ignored): the 404 landing page, a wrong then the
right password, the VS Code workbench, and a command typed into the integrated terminal,
which only works if the WebSocket through nginx does.

Runs after test_cycle.py (the site is converged) and before test_workspace.py (which
restarts, rebuilds and reboots). One wrong login per run: code-server allows 2 a minute.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from lab import fixtures
from lab.site import LAB_PASSWORDS
from operations import layout
from tests.lab.helpers import ARTIFACTS
from tools.site import REPO

pytestmark = pytest.mark.usefixtures("lab_vm")

BROWSER_DIR = REPO / "tests" / "browser"
SCRIPT = BROWSER_DIR / "workspace.mjs"
OUT = ARTIFACTS / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ("404.png", "wrong-password.png", "workbench.png", "terminal.png")
PROOF = "browser-proof.txt"
OPENCODE_VERSION = "1.18.33"


def ensure_npm_deps() -> None:
    """`npm ci` unless node_modules already holds the locked playwright-core."""
    lock = json.loads((BROWSER_DIR / "package-lock.json").read_text())
    wanted = lock["packages"]["node_modules/playwright-core"]["version"]
    installed = BROWSER_DIR / "node_modules" / "playwright-core" / "package.json"
    if installed.exists() and json.loads(installed.read_text()).get("version") == wanted:
        return
    proc = subprocess.run(
        ["npm", "ci", "--prefix", str(BROWSER_DIR), "--no-audit", "--no-fund", "--silent"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"npm ci failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def browse(lab_vm, site, user, out: Path, *options: str) -> dict:
    """Run tests/browser/workspace.mjs as `user`; its result, or a failure with its output."""
    assert shutil.which("node"), "node is not installed"
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} not found: apt-get install chromium (.ci/setup)"
    ensure_npm_deps()
    base = f"https://{layout.hostname(site, user)}:{lab_vm.https_port}"
    roots = fixtures.pebble_roots(OUT / "pebble-roots.pem")
    proc = subprocess.run(
        ["node", str(SCRIPT), "--base", base, "--user", user.name,
         "--password", LAB_PASSWORDS[user.name], "--out", str(out), "--chromium", CHROMIUM,
         "--ca-file", str(roots), *options],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "workspace.log").write_text(proc.stderr)
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1]) if lines else {}
    assert proc.returncode == 0 and result.get("ok"), (
        f"browser run failed (exit {proc.returncode}), see {out}/failure.png:\n"
        f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return result


def test_first_visit_in_a_real_browser(lab_vm, site):
    alice = next(u for u in site.users if u.name == "alice")
    proof = f"{layout.workspace_dir(site, alice)}/{PROOF}"
    # The file must be made by this run's terminal, not left over from an earlier one.
    lab_vm.ssh(f"rm -f {proof}")

    result = browse(lab_vm, site, alice, OUT)

    # What the browser's terminal wrote is really in the person's project folder on the VM.
    content = lab_vm.ssh(f"cat {proof}").stdout
    assert OPENCODE_VERSION in content, f"{proof} holds {content!r}"
    assert OPENCODE_VERSION in result["steps"]["terminal"]["proof_content"]
    assert result["steps"]["wrong_password"]["message"] == "Incorrect password"
    for name in SCREENSHOTS:
        shot = OUT / name
        assert shot.exists() and shot.stat().st_size > 10_000, f"screenshot {shot} missing or empty"
    # The settings promise no workspace-trust question and no Copilot chat: a person sees
    # neither the trust prompt, nor the Restricted Mode that trust puts an unanswered folder
    # in, nor a chat (the control below shows these observations see them when they are on).
    seen = result["observations"]
    assert seen["trust_prompt"] is False and seen["restricted_mode"] is False, seen
    assert seen["chat_panel_visible"] is False, seen


# The two promises of files/workspace/settings.json, switched back to VS Code's defaults.
PROMPTS_ON = '{"security.workspace.trust.enabled": true, "chat.disableAIFeatures": false}\n'


def test_the_browser_sees_restricted_mode_and_a_chat_where_they_are_on(lab_vm, site):
    """The negative control of the absences above: with bob's settings back at VS Code's
    defaults, the same observations find the chat and workspace trust at work. Measured in
    this lab: an unanswered folder opens in Restricted Mode with its banner, and the modal
    "Do you trust the authors" question does not show in headless Chromium, so it is
    Restricted Mode that proves the trust observation can see trust."""
    bob = site.users[1]
    settings = f"{layout.config_dir(site, bob)}/User/settings.json"
    # Written in place as root: the file keeps coder's owner; restored afterwards.
    lab_vm.ssh(f"cp -p {settings} {settings}.saved && echo {shlex.quote(PROMPTS_ON)} > {settings}")
    try:
        result = browse(lab_vm, site, bob, OUT / "control", "--observe-only")
    finally:
        lab_vm.ssh(f"mv {settings}.saved {settings}")
    seen = result["observations"]
    assert seen["trust_prompt"] is True or seen["restricted_mode"] is True, seen
    assert seen["chat_panel_visible"] is True, seen
