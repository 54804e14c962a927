"""Dashboards: one spec (`spec.yaml`) for the UI's dashboard pages, the Grafana export and the
generated docs, and the service queries behind each panel (`queries.py`)."""
