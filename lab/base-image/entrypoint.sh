#!/bin/sh
# Entrypoint of the offline stand-in for codercom/code-server, modelled on
# upstream's ci/release-image/entrypoint.sh.
set -eu

# Upstream starts with `eval "$(fixuid -q)"` to remap uid/gid 1000 to the
# runtime uid. The fixuid binary comes from GitHub, which is unreachable when
# this image is built offline, so it is left out. Run the container as uid 1000
# (the default) or map the runtime user onto it (e.g. UserNS=keep-id:uid=1000,gid=1000).

if [ "${DOCKER_USER-}" ]; then
  USER="$DOCKER_USER"
  if [ -z "$(id -u "$DOCKER_USER" 2>/dev/null)" ]; then
    echo "$DOCKER_USER ALL=(ALL) NOPASSWD:ALL" | sudo tee -a /etc/sudoers.d/nopasswd >/dev/null
    # $HOME cannot move: bind mounts under it stay where they are.
    sudo usermod --login "$DOCKER_USER" coder
    sudo groupmod -n "$DOCKER_USER" coder
    sudo sed -i "/coder/d" /etc/sudoers.d/nopasswd
  fi
fi

# Let users run scripts on container start to prepare the workspace
# (https://github.com/coder/code-server/issues/5177).
ENTRYPOINTD="${ENTRYPOINTD:-$HOME/entrypoint.d}"
if [ -d "$ENTRYPOINTD" ]; then
  find "$ENTRYPOINTD" -type f -executable -print -exec {} \;
fi

exec dumb-init /usr/bin/code-server "$@"
