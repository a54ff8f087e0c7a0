"""Keeps credentials in URLs out of the server's logs.

uvicorn logs every request line and every websocket handshake with its query string
(``uvicorn.access`` and ``uvicorn.error``).  Old clients still open ``/ws/agent?token=...``, and a
socket ticket is in the URL by design; this filter rewrites such values before any handler
formats the record, wherever the logs go.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

#: Query parameters whose values are credentials, by their decoded, lower-cased name.
SECRET_NAMES = frozenset({"token", "ticket", "access_token", "password", "secret"})
#: One ``name=value`` of a query string, as it appears in a logged request line.
_PARAM = re.compile(r"(?<=[?&])([^=&\s\"']*)=([^&\s\"']*)")
LOGGERS = ("uvicorn.access", "uvicorn.error")


def _hide(match: re.Match[str]) -> str:
    # Starlette decodes parameter names, so ?tok%65n= is a token too: judge the decoded name.
    return f"{match[1]}=[redacted]" if unquote_plus(match[1]).strip().lower() in SECRET_NAMES else match[0]


def redact(text: str) -> str:
    return _PARAM.sub(_hide, text)


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
