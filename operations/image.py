"""The workspace image: files/Dockerfile built on the host by the service account.

The tag is a hash of every build input (Site.image_hash), so "is this image built?" is a
lookup, and an unchanged Dockerfile never rebuilds. Units name the tag, so a new image
restarts each container exactly once, when its unit file changes.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import files, server

from operations import ensure, layout
from operations.layout import EXTENSIONS_GLOB, UPLOADED_BASE
from operations.model import IMAGE_CONTEXT, REPO, ConfigError, Site
from operations.snapshot import Snapshot


def npm_registry(site: Site) -> str:
    """Where the build downloads Node.js, npm and opencode from: image_npm_registry, or the
    registry the deploying machine's npm is configured with. Not part of the image's tag:
    the same pinned, checksummed files come from any mirror."""
    if site.image_npm_registry:
        return site.image_npm_registry
    try:
        found = subprocess.run(["npm", "config", "get", "registry"], capture_output=True,
                               text=True, timeout=60, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    if not found.startswith(("http://", "https://")):
        raise ConfigError(["image_npm_registry: is not set, and this machine's npm cannot tell"
                           " its registry (is npm installed?). Fix: set image_npm_registry to"
                           " your npm registry's URL in group data, or install npm here."])
    return found.rstrip("/")


@deploy("Workspace image")
def image(site: Site, snap: Snapshot, registry: str | None) -> None:
    """registry: see npm_registry(); only needed when the image must be built."""
    if site.image in snap.images:
        # The tag is the hash of the whole context: nothing to upload, nothing to build.
        return

    context = layout.build_dir(site)
    for folder in sorted({str(Path(name).parent) for name in IMAGE_CONTEXT} | {"extensions"}):
        path = f"{context}/{folder}".rstrip("/.")
        ensure.directory(snap, f"Build context {folder}", path, "755")
    for name in IMAGE_CONTEXT:
        source = REPO / "files" / name
        ensure.file(snap, f"Build context {name}", f"{context}/{name}", source.read_bytes(),
                    "755" if os.access(source, os.X_OK) else "644")
    wanted = [Path(site.image_extension_vsix).name] if site.image_extension_vsix else []
    if site.image_extension_vsix:
        ensure.file(snap, f"Build context extensions/{wanted[0]}",
                    f"{context}/extensions/{wanted[0]}",
                    Path(site.image_extension_vsix).read_bytes(), "644")
    for stale in snap.listing(f"{context}/extensions", EXTENSIONS_GLOB):
        if stale not in wanted:
            files.file(name=f"Remove stale extensions/{stale}",
                       path=f"{context}/extensions/{stale}", present=False)

    # Air-gapped hosts (and the lab) get the base image from an archive instead of a registry.
    # podman load reads it as it is: a plain docker-archive, or one compressed with zstd/gzip.
    if site.image_base_archive and site.image_base not in snap.images:
        files.put(name=f"Upload base image archive ({site.image_base})",
                  src=site.image_base_archive, dest=UPLOADED_BASE, mode="644")
        server.shell(
            name=f"Load {site.image_base} into the account's podman",
            commands=[layout.as_account(site, f"podman load --quiet --input {UPLOADED_BASE}"),
                      f"rm -f {UPLOADED_BASE}"],
        )

    args = (f"--build-arg BASE_IMAGE={shlex.quote(site.image_base)}"
            f" --build-arg NPM_REGISTRY={shlex.quote(str(registry))}")
    if site.image_build_ca:
        ensure.file(snap, "CA bundle for the build's TLS proxy", f"{layout.build_dir(site)}/build-ca.pem",
                    Path(site.image_build_ca).read_bytes(), "644")
        args += f" --secret id=build_ca,src={layout.build_dir(site)}/build-ca.pem"
    server.shell(
        name=f"Build {site.image} (several minutes)",
        commands=[layout.as_account(site, f"podman build --pull=missing --layers --tag {site.image} {args}"
            f" --file {layout.build_dir(site)}/Dockerfile {layout.build_dir(site)}"
        )],
    )
