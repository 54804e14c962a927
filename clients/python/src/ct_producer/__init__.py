"""Control Tower's producer client: send signed, idempotent events, retried and, with a spool,
kept on disk until CT acknowledges them.

    from ct_producer import Producer

    with Producer(CT_URL, CT_TOKEN, CT_SECRET, source="backend", spool_dir="/var/spool/ct") as ct:
        ct.send("finance.invoice.generated", {"invoice_id": "INV-0042", ...})

Everything importable from here is the public API; modules starting with `_` are not.
"""

from ct_producer._errors import (
    AuthenticationError,
    ConflictError,
    CTError,
    DeliveryError,
    RejectedError,
)
from ct_producer._events import Event, Severity
from ct_producer._ids import new_ulid
from ct_producer._producer import AsyncProducer, Producer
from ct_producer._protocol import VERSION as __version__
from ct_producer._reporting import CTErrorHandler, report_errors, stack_ref
from ct_producer._results import BatchResult, FlushReport, Result
from ct_producer._retry import Backoff
from ct_producer._signing import sign

__all__ = [
    "AsyncProducer",
    "AuthenticationError",
    "Backoff",
    "BatchResult",
    "CTError",
    "CTErrorHandler",
    "ConflictError",
    "DeliveryError",
    "Event",
    "FlushReport",
    "Producer",
    "RejectedError",
    "Result",
    "Severity",
    "__version__",
    "new_ulid",
    "report_errors",
    "sign",
    "stack_ref",
]
