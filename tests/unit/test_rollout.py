"""The rollout's decisions: what a unit's spec covers, and which images stay."""

from __future__ import annotations

import subprocess

import pytest

from operations import layout
from operations.containers import images_to_keep, notify_healthy, unit_text, unit_values
from operations.model import load
from operations.snapshot import Snapshot
from tests.render import rollout_script
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
    # Both step onto the current image: B becomes their previous, A and Z may go.
    assert images_to_keep(site, snap, {"alice", "bob"}) == {site.image, "repo:B"}
    # A step that keeps the image (a new limit) keeps the previous one.
    same = Snapshot(image_refs={q["alice"]: site.image, prev["alice"]: "repo:A"})
    assert images_to_keep(site, same, {"alice"}) == {site.image, "repo:A"}


def test_the_rollout_script_is_valid_shell(site):
    run = subprocess.run(["sh", "-n"], input=rollout_script(site), text=True,
                         capture_output=True)
    assert run.returncode == 0, run.stderr
