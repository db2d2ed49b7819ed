"""Group data for the unit tests: a good site, and the same with changes."""

from __future__ import annotations

import copy

HASH = "$argon2id$v=19$m=65536,t=3,p=4$ba314BYZ9zZwoyJhvPHIfg$cYYJBOulfMs/cMW/xNlaCUoC4LYxaCja532AAQkf/co"
GOOD = {
    "domain": "code.example.com",
    "users": {
        "alice": {"port": 8081},
        "bob": {"port": 8082},
    },
    "acme_email": "ops@example.com",
}


def with_changes(**changes) -> dict:
    """GOOD with `a__b=value` set at data[a][b]."""
    data = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        target = data
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return data
