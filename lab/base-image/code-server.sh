#!/bin/sh
# /usr/lib/code-server/bin/code-server, as in upstream's .deb (ci/build/code-server.sh):
# run code-server with the node that ships inside /usr/lib/code-server/lib.
set -eu
ROOT="$(dirname "$(dirname "$(readlink -f "$0")")")"
exec "$ROOT/lib/node" "$ROOT" "$@"
