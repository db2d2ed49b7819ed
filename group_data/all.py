# The settings of your server. Every key is explained in the README's table.
# Adding a person = one entry in `users`, then `pyinfra inventory.py deploy.py` again.
#
# Nothing secret lives here: passwords are argon2 hashes made by `python3 -m tools.adduser`.
# AI provider keys and DNS credentials come from the environment or an untracked file.

# Every workspace is https://<user>.<domain>. Point DNS records <domain> and *.<domain> at
# the server.
# domain = "code.example.com"

# HTTPS (README: "HTTPS: three modes"). The default gets a wildcard certificate from Let's
# Encrypt with lego and a DNS-01 challenge at your DNS host; its API key (VULTR_API_KEY for
# Vultr) comes from the environment or secrets.env, never from this file.
tls_mode = "acme"
# acme_email = "you@example.com"
acme_dns_provider = "vultr"

# One entry per person: a port on 127.0.0.1 that no one else uses, and the argon2 hash.
# users = {
#     "alice": {"port": 8081, "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$..."},
#     "bob": {"port": 8082, "password_hash": "$argon2id$...", "memory_max": "4G"},
# }

# Per-container limits (the seed design's values); each user may override them.
memory_high = "2560M"  # soft: above it the container is throttled and reclaimed
memory_max = "3G"  # hard: above it the kernel OOM-kills inside that container only
cpus = 1.5  # CPU quota in cores
pids_limit = 4096  # processes and threads per container

# Host layout.
workspace_base = "/var/lib/vscode"
service_account = "codeserver"
service_account_uid = 1500

# The image files/Dockerfile is built on.
image_base = "docker.io/codercom/code-server:4.139.1"
