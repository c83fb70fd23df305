"""Workload kinds on the local runtime: run-to-completion jobs (services come next)."""
