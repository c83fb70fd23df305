"""Networking kinds. Local target: podman networks."""
