"""The rollout's decisions: what a unit's spec covers, and which images stay."""

from __future__ import annotations

import subprocess

import pytest

from operations import layout
from operations.containers import (
    images_to_keep,
    notify_healthy,
    rollout_values,
    unit_text,
    unit_values,
)
from operations.model import load
from operations.snapshot import Snapshot
from tests.render import render, rollout_script
from tests.unit.data import HASH, with_changes


@pytest.fixture
def site():
    return load(with_changes())


def spec(site, user, **kwargs) -> str:
    return unit_text(unit_values(site, user, **kwargs))[1]


def test_the_spec_label_is_the_hash_of_the_unit_and_covers_image_limits_and_secrets(site):
    alice = site.users[0]
    text, own = unit_text(unit_values(site, alice, hashes={"alice": HASH}))
    assert f"Label={layout.SPEC_LABEL}={own}" in text.splitlines()
    base = spec(site, alice, hashes={"alice": HASH})
    assert base == own  # the same inputs, the same spec (the control of what follows)
    other_hash = HASH[:-4] + "AAAA"
    assert spec(site, alice, hashes={"alice": other_hash}) != base, "a new password"
    assert spec(site, alice, hashes={"alice": HASH}, notify=True) != base
    newer = load(with_changes(users__alice__memory_max="4G"))
    assert spec(newer, newer.users[0], hashes={"alice": HASH}) != base, "a new limit"
    # The fingerprint never shows the secret itself.
    assert HASH not in text and HASH.split("$")[-1] not in text


def test_notify_healthy_only_where_podman_has_it():
    assert notify_healthy(Snapshot(podman_installed="podman version 5.4.2"))
    assert not notify_healthy(Snapshot(podman_installed="podman version 4.9.3"))
    # Before podman is installed, the version apt will install decides.
    assert notify_healthy(Snapshot(podman_candidate="5.4.2+ds1-2"))
    assert not notify_healthy(Snapshot(podman_candidate="4.9.3+ds1-1ubuntu0.2"))


def test_the_current_and_each_persons_previous_image_stay(site):
    alice, bob = site.users
    q = {u.name: f"{layout.quadlet_dir(site)}/{layout.quadlet_file(u)}" for u in site.users}
    prev = {u.name: layout.rollout_files(u)[0] for u in site.users}
    snap = Snapshot(image_refs={q["alice"]: "repo:B", prev["alice"]: "repo:A",
                                q["bob"]: "repo:B", prev["bob"]: "repo:Z"})
    # Nobody steps: what the units name now stays.
    assert images_to_keep(site, snap, set()) == {site.image, "repo:A", "repo:B", "repo:Z"}
    # Both step onto the current image from running containers: B becomes their previous,
    # A and Z may go.
    snap.running = {layout.container(alice): "s1", layout.container(bob): ""}
    assert images_to_keep(site, snap, {"alice", "bob"}) == {site.image, "repo:B"}
    # A container that does not run leaves nothing to go back to: the previous one stays.
    del snap.running[layout.container(bob)]
    assert images_to_keep(site, snap, {"alice", "bob"}) == {site.image, "repo:B", "repo:Z"}
    # A step that keeps the image (a new limit) keeps the previous one.
    same = Snapshot(image_refs={q["alice"]: site.image, prev["alice"]: "repo:A"},
                    running={layout.container(alice): "s1"})
    assert images_to_keep(site, same, {"alice"}) == {site.image, "repo:A"}


def test_the_rollout_script_is_valid_shell(site):
    run = subprocess.run(["sh", "-n"], input=rollout_script(site), text=True,
                         capture_output=True)
    assert run.returncode == 0, run.stderr


# -- the step script in a sandbox ----------------------------------------------------------
# Stand-ins that keep a tiny world in files: `systemctl restart` starts the container on
# whatever unit file is in place; an image listed in `good` answers /healthz, any other
# fails to start (the unit ends "failed"). The lab runs the real thing (test_47_rollout.py).
STUBS = {
    "podman": 'if [ -e "$W/running" ]; then echo "running=$(cat "$W/running")"; fi\n',
    "systemctl": """case "$*" in
*restart*)
    image=$(sed -n 's/^Image=//p' "$W/unit")
    if grep -qx "$image" "$W/good"; then
        sed -n 's/^Label=vscode.spec=//p' "$W/unit" > "$W/running"; touch "$W/up"
        echo active > "$W/state"
    else
        rm -f "$W/running" "$W/up"; echo failed > "$W/state"
    fi ;;
*show*) cat "$W/state" ;;
esac
echo "systemctl $*" >> "$W/calls"
""",
    "curl": '[ -e "$W/up" ]\n',
    "journalctl": 'echo "code-server: the log of the failed start"\n',
}


def unit(image: str, spec: str) -> str:
    return f"[Container]\nImage={image}\nLabel=vscode.spec={spec}\n"


@pytest.fixture
def world(site, tmp_path):
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    for tool, body in STUBS.items():
        (bin_dir / tool).write_text(f"#!/bin/sh\n{body}")
        (bin_dir / tool).chmod(0o755)
    script = tmp_path / "vscode-rollout"
    script.write_text(render("usr/local/sbin/vscode-rollout.j2",
                             **{**rollout_values_for_test(site), "state_dir": str(state)}))
    (tmp_path / "good").write_text("repo:A\nrepo:B\n")
    (tmp_path / "unit").write_text(unit("repo:A", "sA"))
    (tmp_path / "running").write_text("sA\n")
    (tmp_path / "up").touch()

    def step(staged: str | None = None):
        args = ["sh", str(script), "alice", "code-server-alice.service", "code-server-alice",
                "8081", str(tmp_path / "unit")]
        if staged is not None:
            (tmp_path / "staged").write_text(staged)
            args.append(str(tmp_path / "staged"))
        return subprocess.run(args, capture_output=True, text=True, timeout=60,
                              env={"PATH": f"{bin_dir}:/usr/bin:/bin", "W": str(tmp_path)})

    return tmp_path, state, step


def rollout_values_for_test(site) -> dict:
    # The account's prefix (setpriv to the service account) becomes a plain `env`.
    return {**rollout_values(site), "as_account": "env", "timeout": 4}


def test_a_good_step_puts_the_new_unit_in_and_keeps_the_old_as_previous(world):
    w, state, step = world
    run = step(unit("repo:B", "sB"))
    assert run.returncode == 0, run.stderr
    assert (w / "unit").read_text() == unit("repo:B", "sB")
    assert (w / "running").read_text().strip() == "sB"
    assert (state / "code-server-alice.service.previous").read_text() == unit("repo:A", "sA")
    assert not (state / "code-server-alice.service.rollback").exists()
    assert not (w / "staged").exists()
    assert run.stdout == "" and run.stderr == "", "a good step is quiet"


def test_a_failing_step_goes_back_to_what_served_and_says_why(world):
    w, state, step = world
    run = step(unit("repo:broken", "sX"))
    assert run.returncode == 1
    assert (w / "unit").read_text() == unit("repo:A", "sA"), "the old unit is not back"
    assert (w / "running").read_text().strip() == "sA", "not serving on the old unit"
    assert "ROLLOUT STOPPED at alice" in run.stderr and "repo:broken" in run.stderr
    assert "back on its previous unit and image repo:A, and serving" in run.stderr
    assert "the log of the failed start" in run.stderr
    assert not (state / "code-server-alice.service.rollback").exists()
    assert not (state / "code-server-alice.service.previous").exists()


def test_a_rerun_restarts_onto_the_unit_already_in_place(world):
    """What an interrupted step leaves: the new unit in place, the old container running,
    and the old unit saved as the way back."""
    w, state, step = world
    state.mkdir()
    (state / "code-server-alice.service.rollback").write_text(unit("repo:A", "sA"))
    (w / "unit").write_text(unit("repo:B", "sB"))
    run = step()
    assert run.returncode == 0, run.stderr
    assert (w / "running").read_text().strip() == "sB"
    assert (state / "code-server-alice.service.previous").read_text() == unit("repo:A", "sA")
    # The control: the same rerun onto a broken unit goes back to the saved one.
    (w / "unit").write_text(unit("repo:broken", "sX"))
    (state / "code-server-alice.service.rollback").write_text(unit("repo:B", "sB"))
    run = step()
    assert run.returncode == 1 and (w / "unit").read_text() == unit("repo:B", "sB")


def test_a_container_from_before_the_label_is_the_way_back(world):
    """A server deployed before units carried the label: what runs is the unit in place."""
    w, state, step = world
    (w / "unit").write_text("[Container]\nImage=repo:A\n")
    (w / "running").write_text("")
    run = step(unit("repo:B", "sB"))
    assert run.returncode == 0, run.stderr
    assert (state / "code-server-alice.service.previous").read_text() == "[Container]\nImage=repo:A\n"
