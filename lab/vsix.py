"""Pack the stand-in opencode extension (lab/extension/) into a .vsix, cached by its inputs.

`build(version=...)` packs the same extension under another version number: the lab uses it
to prove that an image update also updates the extension in existing workspaces.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from lab.common import cache_dir, inputs_hash, log, point

SOURCE = Path(__file__).with_name("extension")
VSCE = "@vscode/vsce@3.9.2"


def _manifest(version: str | None) -> dict:
    meta = json.loads((SOURCE / "package.json").read_text())
    if version:
        meta["version"] = version
    return meta


def vsix_path(version: str | None = None) -> Path:
    """Where the packed extension lives; its name is publisher.name-version.vsix."""
    meta = _manifest(version)
    key = inputs_hash(*sorted(SOURCE.iterdir()), VSCE, meta["version"])
    return cache_dir() / f"vsix-{key}" / f"{meta['publisher']}.{meta['name']}-{meta['version']}.vsix"


def build(version: str | None = None) -> Path:
    """The packed extension; the default version is also linked under the name
    group_data/lab.py uses (cache/extension/publisher.name-version.vsix)."""
    target = _build(version)
    if version is None:
        point(cache_dir() / "extension" / target.name, target)
    return target


def _build(version: str | None = None) -> Path:
    target = vsix_path(version)
    if target.exists():
        return target
    log(f"packing {target.name} with {VSCE}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "extension"
        shutil.copytree(SOURCE, work)
        (work / "package.json").write_text(json.dumps(_manifest(version), indent=2))
        subprocess.run(["npx", "--yes", VSCE, "package", "--allow-missing-repository",
                        "--skip-license", "-o", str(Path(tmp) / target.name)],
                       cwd=work, check=True, capture_output=True, text=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(tmp) / target.name), target)
    return target


if __name__ == "__main__":
    print(build())
