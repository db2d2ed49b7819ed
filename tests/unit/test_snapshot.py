"""The one-command snapshot, run for real on this machine against a folder of its own: what
it reads, and the comparisons that decide whether an operation is emitted at all."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from operations.snapshot import SnapshotFact


@pytest.fixture
def snap(tmp_path):
    (tmp_path / "file").write_text("content\n")
    (tmp_path / "file").chmod(0o640)
    (tmp_path / "dir").mkdir(mode=0o750)
    (tmp_path / "dir").chmod(0o750)
    (tmp_path / "link").symlink_to(tmp_path / "file")
    (tmp_path / "list").mkdir()
    for name in ("vscode-a.conf", "vscode-b.conf", "other.conf"):
        (tmp_path / "list" / name).write_text("x")
    fact = SnapshotFact()
    command = fact.command(
        paths=[str(tmp_path / n) for n in ("file", "dir", "link", "missing")],
        listings=[(str(tmp_path / "list"), "vscode-*.conf"), (str(tmp_path / "nowhere"), "*")],
        units=["no-such-unit.service"], packages=["coreutils", "no-such-package"],
        account="no-such-account-here", groups=["root"], as_account="false",
        account_bus="/nonexistent/bus", user_unit_glob="code-server-*",
        certificate=str(tmp_path / "missing.pem"))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    return fact.process(out.stdout.splitlines())


def test_reads_paths_listings_packages_and_accounts(snap, tmp_path):
    me = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    assert snap.file_is(str(tmp_path / "file"), b"content\n", "640", me, group)
    assert snap.paths[str(tmp_path / "file")].sha256 == hashlib.sha256(b"content\n").hexdigest()
    assert snap.dir_is(str(tmp_path / "dir"), "750", me, group)
    assert snap.link_is(str(tmp_path / "link"), str(tmp_path / "file"))
    assert not snap.exists(str(tmp_path / "missing"))
    assert sorted(snap.listing(str(tmp_path / "list"), "vscode-*.conf")) == [
        "vscode-a.conf", "vscode-b.conf"]
    assert snap.listing(str(tmp_path / "nowhere"), "*") == []
    assert "coreutils" in snap.packages and "no-such-package" not in snap.packages
    assert snap.passwd["root"]["uid"] == 0 and snap.groups == {"root": 0}
    assert snap.os_id and not snap.account_ready and snap.certificate_names == []


def test_any_difference_means_an_operation(snap, tmp_path):
    """Each comparison fails for content, mode, owner and kind: then the operation runs."""
    me = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    path = str(tmp_path / "file")
    assert not snap.file_is(path, b"other\n", "640", me, group)
    assert not snap.file_is(path, b"content\n", "644", me, group)
    assert not snap.file_is(path, b"content\n", "640", "nobody", group)
    assert not snap.file_is(str(tmp_path / "dir"), b"", "750", me, group)
    assert not snap.dir_is(str(tmp_path / "dir"), "755", me, group)
    assert not snap.link_is(str(tmp_path / "link"), "/elsewhere")
    assert not snap.file_is(str(tmp_path / "missing"), b"", "644")
    assert not snap.unit_running("no-such-unit.service")


def test_an_owner_without_a_name_is_compared_by_number(tmp_path):
    """The workspaces belong to `coder`'s host id (a subordinate id, no passwd entry): the
    snapshot reads it as a number, so a second deploy sees no difference."""
    folder = tmp_path / "workspace"
    folder.mkdir(mode=0o750)
    try:
        os.chown(folder, 1000999, 1000999)
    except PermissionError:
        pytest.skip("needs root to hand a folder to an unnamed uid")
    fact = SnapshotFact()
    command = fact.command(paths=[str(folder)], listings=[], units=[], packages=[],
                           account="no-such-account-here", groups=[], as_account="false",
                           account_bus="/nonexistent/bus", user_unit_glob="code-server-*",
                           certificate=str(tmp_path / "missing.pem"))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    snap = fact.process(out.stdout.splitlines())
    assert snap.dir_is(str(folder), "750", "1000999", "1000999")
    assert not snap.dir_is(str(folder), "750", "root", "root")


def test_reads_the_certificates_names_end_and_issuing_server(tmp_path):
    """A real certificate made here, and lego's record of where it came from."""
    cert = tmp_path / "_.example.com.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "10", "-subj", "/CN=x",
                    "-addext", "subjectAltName=DNS:*.example.com,DNS:example.com",
                    "-keyout", str(tmp_path / "key"), "-out", str(cert)],
                   check=True, capture_output=True)
    record = tmp_path / "_.example.com.json"
    record.write_text('{\n  "domain": "*.example.com",\n  "certUrl": '
                      '"https://acme-staging-v02.api.letsencrypt.org/acme/cert/fa1",\n'
                      '  "certStableUrl": "https://x/y"\n}\n')
    fact = SnapshotFact()
    command = fact.command(paths=[], listings=[], units=[], packages=[],
                           account="no-such-account-here", groups=[], as_account="false",
                           account_bus="/nonexistent/bus", user_unit_glob="code-server-*",
                           certificate=str(cert), certificate_json=str(record))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    snap = fact.process(out.stdout.splitlines())
    assert snap.certificate_names == ["*.example.com", "example.com"]
    assert snap.certificate_url == "https://acme-staging-v02.api.letsencrypt.org/acme/cert/fa1"
    assert 9 <= (snap.certificate_end - snap.now) / 86400 <= 10
