"""What the store raises when it cannot be reached or drops a connection.

Such a failure says nothing about the request or the event: an HTTP request gets 503 (retry),
and background work tries again later without counting it against the work itself.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import exc as sa_exc

STORE_DOWN: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
)
