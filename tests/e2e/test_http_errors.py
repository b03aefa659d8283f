"""Every route of the OpenAPI document, given bad input over HTTP, answers the one error shape."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from entrypoints.errors import CODES
from tests.e2e.server import RunningServer, serve
from tests.e2e.test_webhook import server_env
from tests.support.webhooks import signed_headers

API_TOKEN = "error-shape-test-token-0123456789"
MAX_BYTES = 4096
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# A bad value for every query parameter the API declares: (value, status, code, parameter).
BAD_VALUES: dict[str, tuple[str, int, str, str | None]] = {
    "limit": ("0", 400, "invalid_parameter", "limit"),
    "cursor": ("!!", 400, "invalid_parameter", "cursor"),
    "status": ("open", 400, "invalid_parameter", "status"),
    "search": ("x" * 101, 400, "invalid_parameter", "search"),
    "range": ("1y", 400, "invalid_parameter", "range"),
    "from": ("yesterday", 400, "invalid_parameter", "from"),
    "to": ("2026-01-01T00:00:00Z", 400, "invalid_parameter", "from"),
    "bucket": ("week", 400, "invalid_parameter", "bucket"),
    "language": ("english!", 400, "invalid_parameter", "language"),
    "hub.mode": ("unsubscribe", 403, "forbidden", None),
    "hub.verify_token": ("guess", 403, "forbidden", None),
    "hub.challenge": ("1", 403, "forbidden", None),
}


@dataclass
class Probe:
    server: RunningServer
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    sent: dict[str, int] = field(default_factory=dict)  # request id -> expected status

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        request_id = f"probe-{next(self.ids)}"
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        response = httpx.request(method, self.server.base_url + path, headers=headers,
                                 timeout=10, **kwargs)  # fmt: skip
        self.sent[request_id] = response.status_code
        return response


def assert_error(
    response: httpx.Response, status: int, code: str, parameter: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) <= {"error", "message", "parameter", "request_id"}, body
    assert body["error"] == code, body
    assert CODES[code].status == status
    assert body["message"][:1].isupper(), body
    assert body.get("parameter") == parameter, body
    assert body["request_id"] == response.headers["x-request-id"] != ""
    return body


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Probe]:
    env = server_env(
        module_database_url, WAZYBOT_API_TOKEN=API_TOKEN, WAZYBOT_WEBHOOK_MAX_BYTES=str(MAX_BYTES)
    )
    with serve(env, tmp_path_factory.mktemp("errors") / "server.log") as server:
        yield Probe(server)


@pytest.fixture(scope="module")
def module_database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    from tests.support import database

    name = database.run_sync(database.create_database(postgres_admin_url, template_database))
    yield database.with_database(postgres_admin_url, name)
    database.run_sync(database.drop_database(postgres_admin_url, name))


def operations(probe: Probe) -> list[tuple[str, str, dict[str, Any]]]:
    document = httpx.get(probe.server.base_url + "/schema/openapi.json").json()
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def concrete(path: str) -> str:
    return (
        path.replace("{conversation_id}", "no-such-conversation")
        .replace("{message_id}", "no-such-message")
        .replace("{product_id}", "no-such-product")
    )


# A body the API reads, so that a POST reaches its unknown resource.
API_BODY: dict[str, Any] = {"text": "probe"}
API_BODIES: dict[str, dict[str, Any]] = {  # by the path's end
    "escalate": {"reason": "probe"},
    "status": {"status": "shipped"},
}
OPTIONAL_BODIES = frozenset({"escalate"})  # a POST without a body is a valid request there


def auth(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_route_answers_bad_input_with_the_error_shape(probe: Probe) -> None:
    walked = operations(probe)
    assert len(walked) >= 8
    for path, method, operation in walked:
        url = concrete(path)
        headers = auth() if path.startswith("/api/v1") else {}
        _wrong_method(probe, url, method)
        if path.startswith("/api/v1"):
            _bad_credentials(probe, url, method)
        if "{" in path:
            sent = API_BODIES.get(path.rsplit("/", 1)[-1], API_BODY)
            body = {"json": sent} if method == "post" and path.startswith("/api/v1") else {}
            assert_error(probe.send(method, url, headers=headers, **body), 404, "not_found")
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            value, status, code, named = BAD_VALUES[parameter["name"]]
            response = probe.send(method, url, headers=headers, params={parameter["name"]: value})
            assert_error(response, status, code, named)
        body_types = operation.get("requestBody", {}).get("content", {})
        if method == "post" and not path.startswith("/api/v1"):
            _bad_bodies(probe, url)
        elif method == "post" and "application/json" in body_types:
            _bad_api_bodies(probe, url, path.rsplit("/", 1)[-1])
        elif method == "post" and body_types:
            _unreadable_api_body(probe, url)


def _wrong_method(probe: Probe, url: str, method: str) -> None:
    document_methods = {m for p, m, _ in operations(probe) if concrete(p) == url}
    other = next(m for m in ("delete", "put", "patch") if m not in document_methods)
    response = probe.send(other, url, headers=auth())
    assert_error(response, 405, "method_not_allowed")
    assert method.upper() in response.headers["allow"]


def _bad_credentials(probe: Probe, url: str, method: str) -> None:
    for headers in ({}, auth("not-a-token"), {"Authorization": f"Basic {API_TOKEN}"}):
        response = probe.send(method, url, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


def _unreadable_api_body(probe: Probe, url: str) -> None:
    """Broken JSON: refused as such, or as a media type the endpoint does not read."""
    headers = {**auth(), "Content-Type": "application/json"}
    response = probe.send("post", url, content=b'{"broken": ', headers=headers)
    assert response.status_code in (400, 415), response.text
    assert response.json()["error"] in ("invalid_json", "unsupported_media_type")


def _bad_bodies(probe: Probe, url: str) -> None:
    unsigned = probe.send("post", url, content=b"{}")
    assert_error(unsigned, 401, "bad_signature")
    broken = b'{"object": "whatsapp_business_account", "entry": [}'
    invalid = probe.send("post", url, content=broken, headers=signed_headers(broken))
    body = assert_error(invalid, 400, "invalid_json")
    assert "invalid JSON" in body["message"]
    assert "byte" in body["message"]  # where the JSON broke
    misshaped = b'{"object": "page", "entry": []}'
    wrong = probe.send("post", url, content=misshaped, headers=signed_headers(misshaped))
    assert_error(wrong, 400, "bad_payload")
    big = b"[" + b"1," * MAX_BYTES + b"1]"
    assert_error(probe.send("post", url, content=big, headers=signed_headers(big)), 413,
                 "payload_too_large")  # fmt: skip


def _bad_api_bodies(probe: Probe, url: str, action: str) -> None:
    json_headers = {**auth(), "Content-Type": "application/json"}
    field = next(iter(API_BODIES.get(action, API_BODY)))
    broken = probe.send("post", url, content=b'{"text": ', headers=json_headers)
    assert_error(broken, 400, "invalid_json")
    if action not in OPTIONAL_BODIES:
        assert_error(probe.send("post", url, headers=json_headers), 400, "bad_payload")
    assert_error(probe.send("post", url, content=b"[]", headers=json_headers), 400, "bad_payload")
    wrong_type = probe.send("post", url, json={field: 5}, headers=auth())
    assert_error(wrong_type, 400, "bad_payload", field)
    valid = API_BODIES.get(action, API_BODY)
    unknown = probe.send("post", url, json={**valid, "colour": "red"}, headers=auth())
    assert "colour" in assert_error(unknown, 400, "bad_payload")["message"]


def test_unknown_routes_and_a_missing_request_id_still_get_the_shape(probe: Probe) -> None:
    for path in ("/nowhere", "/api/v1/nowhere", "/api/v2/conversations"):
        assert_error(probe.send("get", path, headers=auth()), 404, "not_found")
    generated = httpx.get(probe.server.base_url + "/api/v1/conversations")
    body = assert_error(generated, 401, "unauthorized")
    assert len(body["request_id"]) == 32
    forged = httpx.get(probe.server.base_url + "/api/v1/conversations",
                       headers={"X-Request-ID": 'x" level=error'})  # fmt: skip
    assert assert_error(forged, 401, "unauthorized")["request_id"] != 'x" level=error'


def test_caller_mistakes_are_logged_once_at_warning_with_their_request_id(probe: Probe) -> None:
    test_every_route_answers_bad_input_with_the_error_shape(probe)
    lines = [json.loads(line) for line in probe.server.logs().splitlines() if line.startswith("{")]
    errors = [e for e in lines if e["event"].startswith("http.") and "error" in e["event"]]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for entry in errors:
        by_request.setdefault(entry["correlation_id"], []).append(entry)
    assert probe.sent
    assert all(400 <= status < 500 for status in probe.sent.values())
    for request_id, status in probe.sent.items():
        (logged,) = by_request[request_id]
        assert (logged["event"], logged["level"], logged["status"]) == (
            "http.client_error",
            "warning",
            status,
        )
    assert not [e for e in lines if e["level"] in ("error", "critical")]
    assert "http.unhandled_error" not in probe.server.logs()
    assert API_TOKEN not in probe.server.logs()


def test_the_error_codes_are_documented_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for code in CODES.values():
        assert f"| `{code.code}` | {code.status} |" in readme


def test_phone_numbers_and_bsuids_in_requests_are_masked_in_the_server_log(probe: Probe) -> None:
    path = "/api/v1/conversations/conversation-1122334455667-15557654321"
    response = probe.send("get", path, params={"search": "US.13491208655302741918"})
    assert_error(response, 401, "unauthorized")
    wrong = probe.send("get", "/nowhere/US.ENT.11815799212886844830")
    assert_error(wrong, 404, "not_found")
    logs = probe.server.logs()
    assert "15557654321" not in logs
    assert "***4321" in logs
    assert "11815799212886844830" not in logs
    assert "US.ENT.***4830" in logs
