"""Settings read from the environment."""

from __future__ import annotations

import pytest

from gateway.settings import Settings


def test_media_addresses_come_from_the_environment_and_default_to_none_named():
    assert Settings.from_env({}).media_addresses == ()
    assert Settings.from_env({"GATEWAY_MEDIA_ADDRESSES": "203.0.113.10, 127.0.0.1"}).media_addresses == (
        "203.0.113.10",
        "127.0.0.1",
    )
    with pytest.raises(ValueError, match="not an IP address"):
        Settings.from_env({"GATEWAY_MEDIA_ADDRESSES": "media.example.com"})
