"""Where to deploy. By default: the lab VM (`python3 -m lab up`), reached on loopback.

For a real server, copy inventories/production.py, or point this file at it:
    pyinfra inventories/production.py deploy.py
"""

import os
from pathlib import Path

_cache = Path(os.environ.get("VSCODE_LAB_CACHE") or Path.home() / ".cache" / "vscode-lab")

# The group name `lab` pulls in group_data/lab.py on top of group_data/all.py.
lab = [
    (
        "127.0.0.1",
        {
            "ssh_port": int(os.environ.get("VSCODE_LAB_SSH_PORT", "2222")),
            "ssh_user": "root",
            "ssh_key": str(_cache / "ssh" / "id_ed25519"),
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "no",
        },
    )
]
