"""Storage kinds. Local target: podman volumes."""
