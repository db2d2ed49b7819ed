"""tools.adduser: the password is shown once, its hash lands in the secrets file only."""

from __future__ import annotations

import re

from argon2 import PasswordHasher

from operations.model import load
from operations.provided import read_password_hashes
from tools import adduser


def run(capsys, monkeypatch, path, *argv):
    monkeypatch.setenv("VSCODE_SECRETS_FILE", str(path))
    assert adduser.main([*argv, "--inventory", "/nonexistent/inventory.py"]) == 0
    out, err = capsys.readouterr()
    password = re.search(r"^    (\S+-\S+)$", err, re.M).group(1)
    return out, err, password


def test_hash_goes_to_the_secrets_file_and_a_new_password_replaces_it(tmp_path, capsys,
                                                                      monkeypatch):
    path = tmp_path / "secrets.env"
    path.write_text("ANTHROPIC_API_KEY=sk-keep\n")
    path.chmod(0o644)
    out, _, first = run(capsys, monkeypatch, path, "dave")
    assert out.strip() == '"dave": {"port": 8081},'  # the group-data line: no hash in it
    assert path.stat().st_mode & 0o777 == 0o600
    site = load({"domain": "code.example.com", "acme_email": "a@example.com",
                 "users": {"dave": {"port": 8081}}})
    environ = {"VSCODE_SECRETS_FILE": str(path)}
    PasswordHasher().verify(read_password_hashes(site, environ)["dave"], first)

    _, _, second = run(capsys, monkeypatch, path, "dave")
    text = path.read_text()
    assert text.count("VSCODE_PASSWORD_HASH_DAVE=") == 1 and "sk-keep" in text
    PasswordHasher().verify(read_password_hashes(site, environ)["dave"], second)
    assert first != second


def test_print_leaves_the_file_alone(tmp_path, capsys, monkeypatch):
    path = tmp_path / "secrets.env"
    out, _, password = run(capsys, monkeypatch, path, "erin", "--print")
    assert not path.exists()
    line = out.splitlines()[0]
    variable, _, quoted = line.partition("=")
    assert variable == "VSCODE_PASSWORD_HASH_ERIN"
    PasswordHasher().verify(quoted.strip("'"), password)
