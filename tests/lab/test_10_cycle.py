"""Converge, idempotence, verify, then the change scenarios, in order, on one fresh VM."""

from __future__ import annotations

import os

import pytest

from lab.site import BOB_NEW_HASH, BOB_NEW_PASSWORD, LAB_PASSWORDS, lab_secrets, lab_users
from operations import layout
from operations.model import SEED_LIMITS, User, password_variable
from operations.provided import read_password_hashes
from tests.lab.helpers import (
    assert_ok,
    cgroup_of,
    https_status,
    logged_in,
    login,
    main_pid,
    person,
    run_host_suite,
    sh,
    started_at,
)
from tests.render import quadlet

pytestmark = pytest.mark.usefixtures("lab_vm")
BOB_OLD_JAR = "/tmp/bob-old-jar"
# The person these scenarios add and remove again (the lab's site has alice and bob).
CAROL = User(name="carol", port=8083, limits=SEED_LIMITS)


def test_converge_on_fresh_vm(lab_vm, deployer):
    if os.environ.get("VSCODE_LAB_REUSE") != "1":
        # nginx may be there (the lab's foreign site), podman must not.
        assert "podman" not in sh("command -v podman || true"), "VM is not fresh"
    assert_ok(deployer("converge"))


def test_second_deploy_changes_nothing(deployer):
    result = deployer("idempotence")
    assert_ok(result)
    assert result.changed == [], f"a re-run changed: {result.changed}"
    assert result.report["results"]["totals"]["success"] == 0
    # Read in one remote command (the snapshot); pyinfra logged each command it ran, so
    # this count is also the control for the zero that the bad-data test asserts.
    assert 1 <= result.commands <= 15, f"{result.commands} remote commands for a no-op"


def test_host_suite_passes():
    result = run_host_suite()
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


def test_quadlet_generator_accepts_the_deployed_units(lab_vm, site):
    """podman's own quadlet generator (--dryrun) parses every deployed unit without error,
    and the deployed files are exactly what the templates render."""
    out = lab_vm.ssh(f"QUADLET_UNIT_DIRS={layout.quadlet_dir(site)} /usr/libexec/podman/quadlet"
                     " -dryrun -user 2>&1", check=False)
    assert out.returncode == 0, out.stdout
    hashes = read_password_hashes(site, lab_secrets())
    for user in site.users:
        assert f"---{layout.unit(user)}---" in out.stdout, out.stdout
        deployed = sh(f"cat {layout.quadlet_dir(site)}/{layout.quadlet_file(user)}")
        # Debian 13's podman 5.4: the start job waits for health (Notify=healthy).
        assert deployed == quadlet(site, user, hashes=hashes, notify=True), \
            f"{user.name}'s unit differs from the template"
    assert "--memory" in out.stdout and "--secret" in out.stdout
    assert "--sdnotify=healthy" in out.stdout and "--health-startup-cmd" in out.stdout


def memory_max_of(site, container: str) -> str:
    return sh(f"cat {cgroup_of(main_pid(site, container))}/memory.max").strip()


def test_add_a_user_and_change_another_users_limit_and_password_in_one_deploy(
        lab_vm, deployer, site, monkeypatch):
    """carol is added, bob's limits and password change; only their resources change, alice
    keeps running untouched, and bob's old session ends with his old password."""
    before = {u.name: started_at(lab_vm, site, layout.container(u)) for u in site.users}
    status, _, _ = login(site, "bob", LAB_PASSWORDS["bob"], jar=BOB_OLD_JAR)
    assert status == "302" and logged_in(site, "bob", BOB_OLD_JAR), (
        "control: the old session works before the change")
    users = lab_users() | {"carol": {"port": 8083}}
    users["bob"] = dict(users["bob"], memory_max="2G", memory_high="1536M")
    monkeypatch.setenv(password_variable("bob"), BOB_NEW_HASH)
    result = deployer("add-carol-limit-bob", users=users)
    assert_ok(result)
    # A password change ends every old session: the cookie is the old hash.
    assert not logged_in(site, "bob", BOB_OLD_JAR), "bob's old session lives on"
    assert login(site, "bob", LAB_PASSWORDS["bob"], jar="/tmp/bob-jar")[2], "old password works"
    status, jar, _ = login(site, "bob", BOB_NEW_PASSWORD, jar="/tmp/bob-jar")
    assert status == "302" and "code-server-session" in jar
    changed = " ".join(result.changed)
    bob, carol = person(site, "bob"), CAROL
    assert "carol" in changed and layout.container(bob) in changed, result.changed
    alice_ops = [n for n in result.changed if "alice" in n]
    assert not alice_ops, f"alice's resources changed: {alice_ops}"
    assert started_at(lab_vm, site, layout.container(person(site, "alice"))) == before["alice"], (
        "alice restarted")
    assert started_at(lab_vm, site, layout.container(bob)) != before["bob"], "bob not restarted"
    assert memory_max_of(site, layout.container(bob)) == str(2 * 1024**3)
    assert memory_max_of(site, layout.container(carol)) == str(3 * 1024**3)
    # The host suite's per-user checks, now with carol and bob's new limits (the site-wide
    # ones ran above, and this deploy does not touch them).
    suite = run_host_suite("--extra-group-data", str(deployer.last_group_data[0]),
                           "-m", "not site_wide")
    assert suite.returncode == 0, suite.stdout[-8000:]
    assert " passed" in suite.stdout, suite.stdout[-2000:]  # the per-user checks really ran


def test_remove_a_user_and_restore_a_limit_in_one_deploy(lab_vm, deployer, site):
    alice, bob, carol = person(site, "alice"), person(site, "bob"), CAROL
    sh(f"echo keep-me > {layout.workspace_dir(site, carol)}/notes.txt")
    alice_before = started_at(lab_vm, site, layout.container(alice))
    bob_before = started_at(lab_vm, site, layout.container(bob))
    result = deployer("remove-carol-restore-bob")
    assert_ok(result)

    def gone(path: str) -> bool:
        return lab_vm.ssh(f"test -e {path}", check=False).returncode == 1

    names = sh(layout.as_account(site, "podman ps -a --format '{{.Names}}'")).split()
    assert layout.container(alice) in names, "control: the listing shows containers"
    assert layout.container(carol) not in names
    assert gone(f"{layout.quadlet_dir(site)}/{layout.quadlet_file(carol)}")
    assert gone(f"{layout.NGINX_ENABLED}/{layout.vhost_file(carol)}")
    assert gone(f"{layout.NGINX_AVAILABLE}/{layout.vhost_file(carol)}")
    assert layout.password_secret(carol) not in sh(layout.as_account(site, "podman secret ls"))
    archived = sh(f"cat {layout.archive_dir(site)}/carol-*/workspace/notes.txt").strip()
    assert archived == "keep-me"
    assert gone(layout.user_dir(site, carol))
    # bob is back on the site's limits (restarted), alice was not touched at all.
    assert started_at(lab_vm, site, layout.container(bob)) != bob_before
    assert memory_max_of(site, layout.container(bob)) == str(3 * 1024**3)
    assert login(site, "bob", LAB_PASSWORDS["bob"], jar="/tmp/bob-jar")[0] == "302", (
        "bob's first password (the lab's hash again) does not log in")
    assert started_at(lab_vm, site, layout.container(alice)) == alice_before
    # ... and both are still serving.
    for user in site.users:
        code = https_status(layout.hostname(site, user))
        assert code == "200", f"{user.name} stopped serving: {code}"
