"""FastAPI's built-in OpenTelemetry hooks, switched off.

CT exports Prometheus metrics and structlog lines. Left on, FastAPI looks up the global
OpenTelemetry providers on every request, which costs about a tenth of a single-event ingest.
"""

from fastapi.telemetry import TelemetryConfig

NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
