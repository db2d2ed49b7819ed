"""The workspace image: files/Dockerfile built on the host by the service account.

The tag is a hash of every build input (Site.image_hash), so "is this image built?" is a
lookup, and an unchanged Dockerfile never rebuilds. Units name the tag, so a new image
restarts each container exactly once, when its unit file changes.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from operations.facts import AccountPodmanFact, DirectoryListing
from operations.model import IMAGE_CONTEXT, REPO, Site

UPLOADED_BASE = "/var/tmp/vscode-base-image.tar"


@deploy("Workspace image")
def image(site: Site) -> None:
    podman = host.get_fact(AccountPodmanFact, account=site.service_account,
                           runtime_dir=site.runtime_dir)
    if site.image in podman.images:
        # The tag is the hash of the whole context: nothing to upload, nothing to build.
        # (Checking the context files would cost two round trips each on every run.)
        return

    context = site.build_dir
    for folder in sorted({str(Path(name).parent) for name in IMAGE_CONTEXT} | {"extensions"}):
        files.directory(name=f"Build context {folder}", path=f"{context}/{folder}".rstrip("/."),
                        user="root", group="root", mode="755")
    for name in IMAGE_CONTEXT:
        source = REPO / "files" / name
        files.put(name=f"Build context {name}", src=str(source), dest=f"{context}/{name}",
                  user="root", group="root", mode="755" if os.access(source, os.X_OK) else "644")
    wanted = [Path(site.image_extension_vsix).name] if site.image_extension_vsix else []
    if site.image_extension_vsix:
        files.put(name=f"Build context extensions/{wanted[0]}", src=site.image_extension_vsix,
                  dest=f"{context}/extensions/{wanted[0]}", user="root", group="root", mode="644")
    for stale in host.get_fact(DirectoryListing, path=f"{context}/extensions", pattern="*.vsix"):
        if stale not in wanted:
            files.file(name=f"Remove stale extensions/{stale}",
                       path=f"{context}/extensions/{stale}", present=False)

    # Air-gapped hosts (and the lab) get the base image from an archive instead of a registry.
    if site.image_base_archive and site.image_base not in podman.images:
        files.put(name=f"Upload base image archive ({site.image_base})",
                  src=site.image_base_archive, dest=UPLOADED_BASE, mode="644")
        server.shell(
            name=f"Load {site.image_base} into the account's podman",
            commands=[site.as_account(f"podman load --quiet --input {UPLOADED_BASE}"),
                      f"rm -f {UPLOADED_BASE}"],
        )

    args = f"--build-arg BASE_IMAGE={shlex.quote(site.image_base)}"
    if site.image_build_ca:
        files.put(name="CA bundle for the build's TLS proxy", src=site.image_build_ca,
                  dest=f"{site.build_dir}/build-ca.pem", mode="644")
        args += f" --secret id=build_ca,src={site.build_dir}/build-ca.pem"
    server.shell(
        name=f"Build {site.image} (several minutes)",
        commands=[site.as_account(
            f"podman build --pull=missing --layers --tag {site.image} {args}"
            f" --file {site.build_dir}/Dockerfile {site.build_dir}"
        )],
    )
