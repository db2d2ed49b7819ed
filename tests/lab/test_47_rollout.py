"""Safe updates: a broken image rolls back, a rollout converges, a rerun finishes an
interrupted one, old images are pruned, and a vhost nginx refuses never reaches a restart.

The broken image and the broken vhost template are deployed from a copy of this checkout
with one file changed, as a developer's mistake would arrive. The module starts on the
image the workspace tests left (their extension update, `deployer.applied_group_data`) and
ends on the lab's default data, where the TLS-mode tests expect it.
"""

from __future__ import annotations

import re
import shutil
import time

from operations import layout
from tests.lab.helpers import (
    assert_ok,
    https_status,
    sh,
    started_at,
)
from tools.site import REPO

IGNORE = shutil.ignore_patterns(".git", "artifacts", "__pycache__", ".pytest_cache",
                                ".ruff_cache", ".venv")


def altered_checkout(tmp_path, path: str, change) -> object:
    """A copy of this checkout with `change(text) -> text` applied to one file."""
    copy = tmp_path / "checkout"
    shutil.copytree(REPO, copy, ignore=IGNORE)
    target = copy / path
    changed = change(target.read_text())
    assert changed != target.read_text(), f"the change did not apply to {path}"
    target.write_text(changed)
    return copy


def image_of(site, user) -> str:
    return sh(layout.as_account(site, "podman inspect --format '{{.ImageName}}'"
                                f" {layout.container(user)}")).strip()


def unit_file(site, user) -> str:
    return f"{layout.quadlet_dir(site)}/{layout.quadlet_file(user)}"


def our_images(site) -> set[str]:
    repository = site.image.rpartition(":")[0]
    listed = sh(layout.as_account(site, "podman images --format '{{.Repository}}:{{.Tag}}'"))
    return {line for line in listed.split() if line.rpartition(":")[0] == repository}


def all_serving(site):
    for user in site.users:
        code = https_status(layout.hostname(site, user))
        assert code == "200", f"{user.name} does not serve: {code}"


def test_a_broken_image_rolls_back_and_everyone_serves_on_the_old_one(
        lab_vm, deployer, site, serving, timings, tmp_path):
    alice, bob = site.users
    before = {u.name: (image_of(site, u), sh(f"cat {unit_file(site, u)}")) for u in site.users}
    bob_started = started_at(lab_vm, site, layout.container(bob))
    broken = altered_checkout(
        tmp_path, "files/Dockerfile",
        lambda text: text + '\nENTRYPOINT ["sh", "-c", "echo this image is broken on purpose >&2;'
                            ' exit 3"]\n')
    result = deployer("broken-image", group_data=deployer.applied_group_data, repo=broken)
    assert result.returncode != 0, "the deploy of a broken image succeeded"
    out = result.output
    assert f"ROLLOUT STOPPED at {alice.name}" in out, out[-4000:]
    new_image = re.search(r"within \d+ s on image (\S+) \(unit state: failed\)", out).group(1)
    assert new_image.rpartition(":")[0] == site.image.rpartition(":")[0]
    assert new_image not in (before["alice"][0], site.image), new_image
    assert "this image is broken on purpose" in out, out[-4000:]
    assert f"back on its previous unit and image {before['alice'][0]}, and serving" in out
    # alice is back on the old image and the old unit; bob was never touched.
    assert image_of(site, alice) == before["alice"][0]
    assert sh(f"cat {unit_file(site, alice)}") == before["alice"][1]
    assert sh(f"cat {unit_file(site, bob)}") == before["bob"][1]
    assert started_at(lab_vm, site, layout.container(bob)) == bob_started
    all_serving(site)
    step = [t for t, name in result.steps if name.startswith(f"Containers | Roll out {alice.name}")]
    assert step, result.steps
    timings.append(("broken image: alice's step to rolled back and serving",
                    result.seconds - step[0]))


def test_a_rollout_converges_one_person_at_a_time_and_prunes_old_images(
        lab_vm, deployer, site, serving, timings):
    """From the workspace tests' image to the lab's default one: a real image change."""
    previous = image_of(site, site.users[0])
    images_before = our_images(site)
    assert len(images_before) >= 3, f"nothing to prune: {images_before}"  # the control
    result = deployer("rollout")
    assert_ok(result)
    for user in site.users:
        assert image_of(site, user) == site.image, f"{user.name} is not on {site.image}"
    assert our_images(site) == {site.image, previous}, our_images(site)
    steps = [(t, name) for t, name in result.steps if name.startswith("Containers | Roll out")]
    assert [name.split()[4] for _, name in steps] == [f"{u.name}'s" for u in site.users]
    after = [t for t, _ in result.steps if t > steps[-1][0]]
    timings.append(("rollout of 2 people (both steps, /healthz-gated)",
                    (after[0] if after else result.seconds) - steps[0][0]))
    all_serving(site)


def test_a_rerun_finishes_an_interrupted_rollout(lab_vm, deployer, site, serving):
    """The state a step leaves when the deploy dies between putting the new unit in place
    and the restart: bob's unit is the new one, his container still the old one."""
    alice, bob = site.users
    new_unit = sh(f"cat {unit_file(site, bob)}")
    previous, rollback = layout.rollout_files(bob)
    old_image = sh(f"sed -n 's/^Image=//p' {previous}").strip()
    assert old_image and old_image != site.image
    # bob back on the previous unit and image, running...
    sh(f"cp {previous} {unit_file(site, bob)} && cp {previous} {rollback} && "
       + layout.as_account(site, "systemctl --user daemon-reload") + " && "
       + layout.as_account(site, f"systemctl --user restart {layout.unit(bob)}"))
    deadline = time.monotonic() + 300
    while image_of(site, bob) != old_image or https_status(layout.hostname(site, bob)) != "200":
        assert time.monotonic() < deadline, "bob did not serve on the previous image"
        time.sleep(3)
    # ...then the new unit put in place, without a restart: the interrupted step.
    sh(f"cat > {unit_file(site, bob)} <<'EOF'\n{new_unit}EOF\n"
       + layout.as_account(site, "systemctl --user daemon-reload"))
    alice_started = started_at(lab_vm, site, layout.container(alice))

    result = deployer("rerun-after-interrupted-rollout")
    assert_ok(result)
    assert [n for n in result.changed if "Roll out" in n] == [
        n for n in result.changed if n.startswith(f"Containers | Roll out {bob.name}'s")], \
        result.changed
    assert any(n.startswith(f"Containers | Roll out {bob.name}'s") for n in result.changed)
    assert image_of(site, bob) == site.image
    assert started_at(lab_vm, site, layout.container(alice)) == alice_started
    assert sh(f"test -e {rollback} && echo left || echo gone").strip() == "gone"
    assert sh(f"sed -n 's/^Image=//p' {previous}").strip() == old_image
    all_serving(site)
    # And now nothing is left to do.
    again = deployer("idempotence-after-rollout")
    assert_ok(again)
    assert again.changed == [], again.changed


def test_a_vhost_nginx_refuses_leaves_the_old_files_and_survives_a_restart(
        lab_vm, deployer, site, serving, tmp_path):
    alice = site.users[0]
    vhost = f"{layout.NGINX_AVAILABLE}/{layout.vhost_file(alice)}"
    before = sh(f"cat {vhost}")
    broken = altered_checkout(
        tmp_path, "templates/etc/nginx/sites-available/vscode-user.conf.j2",
        lambda text: re.sub(r"(\n\s*server_name )", r"\n    no_such_directive on;\1", text,
                            count=1))
    result = deployer("vhost-nginx-refuses", repo=broken)
    assert result.returncode != 0, "the deploy succeeded with a vhost nginx -t refuses"
    assert "nginx -t refused the new configuration" in result.output, result.output[-3000:]
    assert "no_such_directive" in result.output
    assert sh(f"cat {vhost}") == before, "the refused vhost stayed on disk"
    # What a reboot or a package upgrade does: a full restart reads the files on disk.
    sh("systemctl restart nginx")
    assert sh("systemctl is-active nginx").strip() == "active"
    all_serving(site)
