"""Host names: every person's name round-trips through its glob's inverse, and no valid person
name can produce one of the fixed names."""

from __future__ import annotations

import fnmatch

import pytest

from operations import layout
from operations.model import SEED_LIMITS, USER_NAME_RE, User, load
from tests.unit.data import GOOD

# Names chosen to collide with fixed resources if the layout allowed it.
TRICKY = ["catchall", "workspaces", "cert-renew", "a", "x-password", "tls", "archive",
          "ai-anthropic-api-key", "code-server-bob", "landing"]


def person(name: str) -> User:
    assert USER_NAME_RE.match(name), name
    return User(name=name, port=8081, limits=SEED_LIMITS)


@pytest.mark.parametrize("name", TRICKY)
def test_each_persons_names_match_their_glob_and_map_back(name):
    user = person(name)
    assert fnmatch.fnmatch(layout.quadlet_file(user), layout.QUADLET_GLOB)
    assert fnmatch.fnmatch(layout.vhost_file(user), layout.VHOST_GLOB)
    assert layout.person_of_quadlet(layout.quadlet_file(user)) == name
    assert layout.person_of_vhost(layout.vhost_file(user)) == name
    assert layout.person_of_secret(layout.password_secret(user)) == name


@pytest.mark.parametrize("name", TRICKY)
def test_no_person_produces_a_fixed_name(name):
    user = person(name)
    produced = {layout.quadlet_file(user), layout.vhost_file(user), layout.unit(user),
                layout.password_secret(user), layout.container(user)}
    assert not produced & set(layout.FIXED_NAMES)


def test_fixed_names_are_outside_every_persons_namespace():
    for fixed in layout.FIXED_NAMES:
        assert layout.person_of_vhost(fixed) is None, fixed
        assert layout.person_of_quadlet(fixed) is None, fixed
        assert not fnmatch.fnmatch(fixed, layout.VHOST_GLOB), fixed
        assert not fnmatch.fnmatch(fixed, layout.QUADLET_GLOB), fixed
    # The shared keys' secrets are nobody's password secret.
    assert layout.person_of_secret("ai-anthropic-api-key") is None
    # `_` is what keeps the catch-all out of the people's vhost namespace.
    assert "_" in layout.CATCHALL and not USER_NAME_RE.match("catch_all")


def test_negative_control_the_old_catchall_name_collided():
    """The name the catch-all had before: a person called `catchall` overwrote it."""
    assert layout.vhost_file(person("catchall")) == "vscode-catchall.conf"
    assert layout.person_of_vhost("vscode-catchall.conf") == "catchall"


def test_every_managed_path_is_in_the_snapshot():
    site = load(GOOD)
    args = layout.snapshot_args(site, [], ["Dockerfile"], ["ANTHROPIC_API_KEY"])
    for user in site.users:
        for path in (layout.user_dir(site, user), layout.workspace_dir(site, user),
                     layout.config_dir(site, user), layout.home_dir(site, user),
                     *layout.home_mount_points(site, user),
                     f"{layout.quadlet_dir(site)}/{layout.quadlet_file(user)}",
                     f"{layout.SECRETS_DIR}/{layout.password_secret(user)}",
                     f"{layout.NGINX_ENABLED}/{layout.vhost_file(user)}"):
            assert path in args["paths"], path
    assert f"{layout.SECRETS_DIR}/ai-anthropic-api-key" in args["paths"]


def test_mount_points_in_the_home_are_made_parents_first():
    """Every folder between the home and the two mounts inside it, so none is left for the
    container runtime to make as root (coder could not write to ~/.local then)."""
    site = load(GOOD)
    home = layout.home_dir(site, site.users[0])
    assert layout.home_mount_points(site, site.users[0]) == [
        f"{home}/project", f"{home}/.local", f"{home}/.local/share",
        f"{home}/.local/share/code-server"]
    assert layout.CONTAINER_PROJECT.startswith(layout.CONTAINER_HOME + "/")
    assert layout.CONTAINER_DATA.startswith(layout.CONTAINER_HOME + "/")
