# The settings of your server: only what every site must set. Every other key has a default
# in operations/model.py; the README's "Data keys" table lists them all, with their defaults,
# and a key set here overrides its default.
#
# Adding a person = one entry in `users`, then `pyinfra inventory.py deploy.py` again.
#
# Nothing secret lives here. Password hashes, AI provider keys and DNS credentials come from
# the environment or the untracked secrets.env (`python3 -m tools.adduser NAME` writes the
# hash there); see the README's Security section.

# Every workspace is https://<user>.<domain>. Point DNS records <domain> and *.<domain> at
# the server.
# domain = "code.example.com"

# Your address at the ACME CA (Let's Encrypt). The DNS host's API key (VULTR_API_KEY for
# Vultr, the default acme_dns_provider) comes from the environment or secrets.env.
# acme_email = "you@example.com"

# One entry per person: a port on 127.0.0.1 that no one else uses. Limits (memory_high,
# memory_max, cpus, pids_limit) can be overridden per person.
# users = {
#     "alice": {"port": 8081},
#     "bob": {"port": 8082, "memory_max": "4G"},
# }
