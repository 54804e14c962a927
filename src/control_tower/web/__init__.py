"""The web UI: a small server-rendered sub-app over the same services as the API."""
