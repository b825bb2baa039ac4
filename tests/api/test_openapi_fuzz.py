"""schemathesis fuzzes every operation of the served OpenAPI document, with valid and invalid
data, against a real server on each real database: no request may get a 500."""

from __future__ import annotations

import base64

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.api.conftest import ADMIN

AUTHORIZATION = {"Authorization": "Basic " + base64.b64encode(":".join(ADMIN).encode()).decode()}
EXAMPLES_PER_OPERATION = 10


def seed(scheduler) -> None:
    """Things the fuzzer's favourite values (`string`, `default`, 1) find, so that it also
    reaches the code behind a successful lookup."""
    scheduler.call("POST", "/targets", json={"name": "default"})
    scheduler.call("POST", "/sources", json={"name": "string"})
    scheduler.call("POST", "/sources/string/hosts", json={"host": "string", "port": 1})
    scheduler.repository.register_backend("default", "1", 1, 4)  # type: ignore[arg-type]
    scheduler.call("POST", "/jobs", json={"source": "string", "uid": "string"})


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_yields_a_server_error(scheduler, mode):
    seed(scheduler)
    document = scheduler.http.get(f"{scheduler.url}/openapi.json").json()
    operations = [result.ok() for result in
                  schemathesis.openapi.from_dict(document).get_all_operations()]
    assert len(operations) >= 20
    server_errors: list[str] = []
    with requests.Session() as session:
        for operation in operations:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def call(case: schemathesis.Case) -> None:
                response = case.call(base_url=scheduler.url, session=session,
                                     headers=AUTHORIZATION)
                if response.status_code >= 500:
                    server_errors.append(f"{case.method} {case.formatted_path} "
                                         f"query={case.query!r} body={case.body!r}: "
                                         f"{response.status_code} {response.text[:200]}")

            call()
    assert server_errors == []
