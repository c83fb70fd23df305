"""Data services on the local runtime: ``Database`` (PostgreSQL) and ``Cache`` (Redis).

Each instance is one podman container with its data on a volume and a generated password
held as a sensitive output; the servers come from a Debian image built here
(:mod:`stackwright.data.image`).
"""
