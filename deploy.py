"""Deploy or update the browser development environment: `pyinfra inventory.py deploy.py`.

The data is loaded and validated before the first operation, so bad group data stops the
run with every problem listed and the host untouched.
"""

import sys
from pathlib import Path

from pyinfra import host

sys.path.insert(0, str(Path(__file__).resolve().parent))

from operations.account import account  # noqa: E402
from operations.alerts import alerts, alerts_on_host  # noqa: E402
from operations.backup import backup  # noqa: E402
from operations.boot import boot  # noqa: E402
from operations.checks import daily_check  # noqa: E402
from operations.containers import containers  # noqa: E402
from operations.image import image, npm_registry  # noqa: E402
from operations.layout import snapshot_args  # noqa: E402
from operations.memory_guard import memory_guard  # noqa: E402
from operations.model import IMAGE_CONTEXT, ConfigError, load  # noqa: E402
from operations.packages import packages, packages_for  # noqa: E402
from operations.preflight import preflight  # noqa: E402
from operations.provided import (  # noqa: E402
    check_alerts_kept,
    check_keys_kept,
    read_ai_keys,
    read_alert_webhook,
    read_backup_secrets,
    read_dns_credentials,
    read_password_hashes,
    wanted_names,
)
from operations.proxy import proxy  # noqa: E402
from operations.secrets import prune_secrets, secrets  # noqa: E402
from operations.snapshot import SnapshotFact  # noqa: E402
from operations.tls import tls  # noqa: E402
from operations.workspaces import archive_departed, workspaces  # noqa: E402


def stop(error: ConfigError) -> None:
    # pyinfra would bury this under a traceback; the message already names key and fix.
    sys.stderr.write(f"\n{host.name}: {error}\n")
    sys.exit(2)


try:
    site = load(host.data)
    hashes = read_password_hashes(site)
    dns_credentials = read_dns_credentials(site)
    backup_secrets = read_backup_secrets(site)
    webhook = read_alert_webhook()
except ConfigError as error:
    stop(error)

keys = read_ai_keys(site)
if wanted_names(site) and not keys:
    sys.stderr.write(
        f"\nWARNING: no shared AI provider key found (looked for {', '.join(wanted_names(site))}"
        " in the environment and in secrets.env). The deploy goes on; opencode will ask each"
        " person to connect a provider themselves.\n\n"
    )

# The host as it is, in one command; the operations below emit only what differs from it.
snap = host.get_fact(SnapshotFact, **snapshot_args(site, packages_for(site), list(IMAGE_CONTEXT),
                                                   wanted_names(site)))
try:
    check_keys_kept(site, keys, snap.secrets)
    check_alerts_kept(webhook, alerts_on_host(snap))
    registry = npm_registry(site) if site.image not in snap.images else None
except ConfigError as error:
    stop(error)

preflight(site, snap)
packages(site, snap)
account(site, snap)
workspaces(site, snap)
image(site, snap, registry)
secrets(site, snap, keys, hashes)
alerts(site, snap, webhook)  # before the units that name it in OnFailure=
containers(site, snap, keys, hashes)
memory_guard(site, snap)  # after the containers whose cgroups it watches
boot(site, snap)
prune_secrets(site, snap, keys)
archive_departed(site, snap)
certificate = tls(site, snap, dns_credentials)
proxy(site, snap, certificate_changed=certificate)
backup(site, snap, backup_secrets)
daily_check(site, snap)  # after the backup units whose last run it judges
