"""Credentials in logged URLs are hidden however their names are spelled."""

from __future__ import annotations

import logging

import pytest

from gateway.log_redaction import RedactSecrets, redact


@pytest.mark.parametrize(
    "query",
    [
        "token=s3cr3t",
        "ticket=s3cr3t",
        "tok%65n=s3cr3t",
        "%74icket=s3cr3t",
        "TOKEN=s3cr3t",
        "password=s3cr3t",
        "access_token=s3cr3t",
    ],
)
def test_secret_values_are_redacted(query: str):
    line = f'127.0.0.1:5 - "WebSocket /ws/agent?since=1-0&{query}" [accepted]'
    assert "s3cr3t" not in redact(line) and "since=1-0" in redact(line)


def test_other_parameters_are_left_alone():
    assert (
        redact("GET /api/queues/sales/interactions?state=completed&limit=5 HTTP/1.1")
        == "GET /api/queues/sales/interactions?state=completed&limit=5 HTTP/1.1"
    )


def test_the_filter_rewrites_uvicorns_record_arguments():
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", "/ws/agent?token=s3cr3t"),
        None,
    )
    RedactSecrets().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "WebSocket /ws/agent?token=[redacted]" [accepted]'
