"""`micronaut.security.ip-patterns`: parsing, and 403 for a real client outside the patterns."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dmf.service.http_settings import SecuritySettings
from dmf.service.ip_filter import address_allowed, parse_ip_pattern
from tests.service.live_server import live_server
from tests.service.service_app import ADMIN, HTTP, make_app


@pytest.mark.parametrize(("patterns", "host", "allowed"), [
    (["127.0.0.1"], "127.0.0.1", True),
    (["127.0.0.1"], "127.0.0.2", False),
    (["192.168.1.*"], "192.168.1.77", True),
    (["192.168.1.*"], "192.168.2.77", False),
    (["10.*.*.1"], "10.200.3.1", True),
    (["10.0.0.0/8"], "10.255.0.9", True),
    (["10.0.0.0/8"], "11.0.0.1", False),
    (["::1"], "::1", True),
    (["127.0.0.1"], "::ffff:127.0.0.1", True),
    (["192.168.1.*"], "fe80::1", False),
    (["127.0.0.1"], "not-an-address", False),
    (["127.0.0.1"], None, False),
])
def test_address_allowed(patterns, host, allowed):
    assert address_allowed(host, [parse_ip_pattern(p) for p in patterns]) is allowed


@pytest.mark.parametrize("pattern", ["192.168.*", "300.1.1.*", "1.2.3.x*", "localhost", ""])
def test_bad_pattern_is_a_configuration_error_naming_the_key(pattern):
    with pytest.raises(ValidationError) as caught:
        SecuritySettings.model_validate({"ip-patterns": [pattern]})
    assert caught.value.errors()[0]["loc"] == ("ip-patterns",)


@pytest.mark.parametrize("patterns", [["10.1.2.3"], ["192.168.1.*"], ["10.0.0.0/8", "::2"]])
def test_client_outside_the_patterns_gets_403_before_authentication(patterns):
    app, _ = make_app(security={"ip-patterns": patterns})
    with live_server(app) as url:
        for path in ("/health", "/metrics", "/prometheus", "/no-such-path"):
            response = HTTP.get(f"{url}{path}", auth=ADMIN)
            assert response.status_code == 403, path
            assert "www-authenticate" not in response.headers


def test_forwarded_for_header_cannot_pose_as_an_allowed_address():
    app, _ = make_app(security={"ip-patterns": ["10.1.2.3"]})
    with live_server(app) as url:
        response = HTTP.get(f"{url}/health", headers={"X-Forwarded-For": "10.1.2.3",
                                                      "X-Real-IP": "10.1.2.3"})
    assert response.status_code == 403


@pytest.mark.parametrize("patterns", [["127.0.0.1"], ["127.0.0.*"], ["10.0.0.0/8", "127.0.0.0/8"]])
def test_client_inside_the_patterns_is_served(patterns):
    app, _ = make_app(security={"ip-patterns": patterns})
    with live_server(app) as url:
        assert HTTP.get(f"{url}/health").status_code == 200
        assert HTTP.get(f"{url}/metrics", auth=ADMIN).status_code == 200
        assert HTTP.get(f"{url}/metrics").status_code == 401
