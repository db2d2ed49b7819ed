"""A real server. Copy this file, set the host name, and put your data in group_data/.

    pyinfra inventories/production.py deploy.py

pyinfra connects with your normal ssh setup (~/.ssh/config, agent). The user must be root or
have passwordless sudo; for sudo add `"_sudo": True` to the host data.
"""

# The group name `production` pulls in group_data/production.py (if present) on top of
# group_data/all.py.
production = [
    ("dev.example.com", {"ssh_user": "root"}),
]
