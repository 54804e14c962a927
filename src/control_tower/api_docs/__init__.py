"""The API's documentation pages (Swagger UI at /docs, ReDoc at /redoc), served from CT itself:
the scripts come from the `fastapi-offline` package, not from a CDN."""
