"""CI/CD pipelines: the ``Pipeline`` kind, pipeline files, the DAG of jobs, the runner in
podman containers, caches, artifacts, secrets, triggers and run history."""
