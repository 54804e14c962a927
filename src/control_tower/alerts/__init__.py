"""Alerting: rules from the catalogue, alerts with a lifecycle (firing → acknowledged →
resolved) and Alertmanager's notification timing, silences (docs/alerts.md)."""
