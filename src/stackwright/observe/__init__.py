"""Observability: SLOs compiled to Sloth-compatible rules, alert rules, notification channels,
and the managed Prometheus, Alertmanager and node_exporter the daemon runs."""
