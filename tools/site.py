"""The deployed site as the laptop-side tools see it (tests, the lab, tools.*): read from the
same inventory and group data that deploy.py reads, through the same model, so they cannot
drift apart; plus the commands that reach a server's HTTPS as a browser would."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from operations.model import Site, load  # noqa: E402


def inventory_host(inventory: str, name: str | None = None, group_data: list[str] | None = None):
    """The pyinfra Host for `name` (default: the first host) with its merged data."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    path = inventory if Path(inventory).is_absolute() else str(REPO / inventory)
    # pyinfra executes inventory and group data files inside a State context.
    with ctx_state.use(State()):
        inv = make_inventory(path, cwd=str(REPO), group_data_directories=group_data)
    hosts = list(inv)
    if name is None:
        return hosts[0]
    for host in hosts:
        if host.name == name:
            return host
    raise SystemExit(f"host {name!r} is not in {inventory}: {[h.name for h in hosts]}")


def site_of(host) -> Site:
    return load(host.data)


def testinfra_host(host):
    """A testinfra ssh host from the pyinfra host data (port, user, key, host-key policy)."""
    import testinfra

    data = host.data
    url = f"ssh://{data.get('ssh_user') or 'root'}@{host.name}:{data.get('ssh_port') or 22}"
    # One multiplexed ssh connection for the whole suite, not one per command.
    options = {"controlpath": f"/tmp/vscode-testinfra-{host.name}-{data.get('ssh_port') or 22}",
               "controlpersist": 120}
    if data.get("ssh_key"):
        options["ssh_identity_file"] = data.get("ssh_key")
    if data.get("ssh_strict_host_key_checking") == "no":
        options["ssh_extra_args"] = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                                     " -o LogLevel=ERROR")
    return testinfra.get_host(url, **options)


def curl_https(hostname: str, path: str = "/", ca_file: str | None = None,
               options: str = "") -> str:
    """A curl command, run on the server, that reaches nginx as a browser at
    https://HOSTNAME would: by name (SNI and Host), verifying the chain against `ca_file`
    (default: the system's trust store)."""
    cacert = f" --cacert {ca_file}" if ca_file else ""
    return (f"curl -s --compressed{cacert} --resolve {hostname}:443:127.0.0.1 {options}"
            f" https://{hostname}{path}")


def s_client(hostname: str, ca_file: str | None = None, connect: str = "127.0.0.1:443",
             *options: str) -> list[str]:
    """openssl s_client as a browser at https://HOSTNAME would check the server: SNI, the
    chain against `ca_file` (default: the system's trust store) and the name, and a failing
    exit status on any verification error."""
    ca = ["-CAfile", ca_file] if ca_file else ["-CApath", "/etc/ssl/certs"]
    return ["openssl", "s_client", "-connect", connect, "-servername", hostname,
            "-verify_hostname", hostname, "-verify_return_error", *ca, *options]


def protocol_options(protocol: str) -> list[str]:
    """s_client options that offer exactly `protocol` (-tls1 ... -tls1_3). OpenSSL 3 refuses
    TLS 1.0 and 1.1 by itself at its default security level, so for them the client lowers
    its own level: a refusal then comes from the server, not from the client."""
    if protocol in ("-tls1", "-tls1_1"):
        return [protocol, "-cipher", "ALL:@SECLEVEL=0"]
    return [protocol]
