"""Schemathesis drives every operation of /openapi.json against a real gateway process: no 5xx, ever."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from gateway.app import create_app
from gateway.settings import Settings
from tests.processes import GatewayProcess, gateway_process

TOKEN = "schemathesis-admin-token"
schema = schemathesis.openapi.from_dict(create_app(Settings()).state.openapi)
# Valid and invalid inputs alike: the invalid ones must get a clear 4xx, never a 5xx.
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope="module")
def server() -> Iterator[GatewayProcess]:
    with gateway_process({"GATEWAY_ADMIN_TOKEN": TOKEN}) as gp:
        yield gp
    log = "".join(gp.output)
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]


@pytest.fixture
def seeded(server: GatewayProcess) -> GatewayProcess:
    import httpx

    headers = {"Authorization": f"Bearer {TOKEN}"}
    httpx.post(f"{server.url}/api/queues", json={"id": "sales", "name": "Sales"}, headers=headers)
    return server


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case, seeded: GatewayProcess):
    response = case.call(base_url=seeded.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"}, body
