"""Keeps credentials in URLs out of the server's logs.

uvicorn logs every request line and every websocket handshake with its query string
(``uvicorn.access`` and ``uvicorn.error``).  Old clients still open ``/ws/agent?token=...``, and a
socket ticket is in the URL by design; this filter rewrites such values before any handler
formats the record, wherever the logs go.
"""

from __future__ import annotations

import logging
import re

#: Query parameters whose values are credentials.
_SECRET = re.compile(r"(?i)\b(token|ticket|access_token)=[^&\s\"']*")
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    return _SECRET.sub(r"\1=[redacted]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_uvicorn_logs() -> None:
    """Installs the filter on uvicorn's loggers once (create_app may run several times in a process)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
