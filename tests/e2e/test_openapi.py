"""The OpenAPI document and its documentation page, fetched from the running server."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.e2e.server import RunningServer, serve
from tests.e2e.test_webhook import server_env
from tests.support.chromium import chromium

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[Any]:
    with serve(server_env(module_database_url), tmp_path_factory.mktemp("openapi") / "log") as s:
        yield s


@pytest.fixture(scope="module")
def module_database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    from tests.support import database

    name = database.run_sync(database.create_database(postgres_admin_url, template_database))
    yield database.with_database(postgres_admin_url, name)
    database.run_sync(database.drop_database(postgres_admin_url, name))


def document(server: RunningServer) -> dict[str, Any]:
    response = httpx.get(server.base_url + "/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_the_document_is_valid_openapi_with_our_title_and_version(server: RunningServer) -> None:
    doc = document(server)
    validate(doc)
    assert doc["info"]["title"] == "WazyBot API"
    assert doc["info"]["version"] == version("wazybot")


def test_every_api_route_declares_the_bearer_scheme(server: RunningServer) -> None:
    doc = document(server)
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    api = [(p, op) for p, _, op in operations(doc) if p.startswith("/api/v1")]
    assert len(api) == 23
    for path, operation in api:
        assert operation.get("security") == [{"bearer": []}], path
        assert "401" in operation["responses"], path
    public = [op for p, _, op in operations(doc) if not p.startswith("/api/v1")]
    assert all("security" not in op for op in public)


def test_each_api_operation_is_listed_once_under_its_own_tag(server: RunningServer) -> None:
    tags = {(p, m): op.get("tags") for p, m, op in operations(document(server))
            if p.startswith("/api/v1")}  # fmt: skip
    assert all(len(t or []) == 1 for t in tags.values()), tags
    assert tags[("/api/v1/conversations/{conversation_id}/messages", "post")] == ["sending"]
    assert tags[("/api/v1/media", "post")] == ["media"]
    assert tags[("/api/v1/templates", "get")] == ["templates"]
    assert tags[("/api/v1/status", "get")] == ["status"]
    assert tags[("/api/v1/conversations", "get")] == ["read models"]
    assert (
        tags[("/api/v1/assistant", "get")] == tags[("/api/v1/assistant", "patch")] == ["assistant"]
    )
    for action in ("escalate", "resolve", "read"):
        assert tags[(f"/api/v1/conversations/{{conversation_id}}/{action}", "post")] == ["handoff"]


def test_every_error_answer_uses_the_shared_error_schema(server: RunningServer) -> None:
    doc = document(server)
    for path, method, operation in operations(doc):
        errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
        assert "500" in errors, (path, method)
        for status, response in errors.items():
            if (path, status) == ("/ready", "503"):
                continue  # the readiness probe reports its reason in its own body
            schema = response["content"]["application/json"]["schema"]
            assert schema == ERROR_BODY, (path, method, status)
            assert "Codes:" in response["description"]


def test_every_field_of_every_schema_is_described(server: RunningServer) -> None:
    schemas = document(server)["components"]["schemas"]
    undescribed = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undescribed == []
    conversation = schemas["ConversationView"]["properties"]
    figures = schemas["MetricsFigures"]["properties"]
    assert "customer message" in conversation["last_activity_at"]["description"]
    assert "turn" in figures["conversations_awaiting_response"]["description"]


def test_every_query_parameter_is_described(server: RunningServer) -> None:
    parameters = [
        (path, parameter["name"])
        for path, _, operation in operations(document(server))
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]
    assert len(parameters) >= 12
    undescribed = [
        (path, parameter["name"])
        for path, _, operation in operations(document(server))
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and not parameter.get("description")
    ]
    assert undescribed == []


def test_the_documentation_page_loads_everything_from_this_server(server: RunningServer) -> None:
    page = httpx.get(server.base_url + "/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "WazyBot API" in page.text
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.text, re.I), "external URL"
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert len(assets) >= 4  # favicon, stylesheet, bundle, preset
    for asset in assets:
        assert asset.startswith("/schema/assets/"), asset
        loaded = httpx.get(server.base_url + asset)
        assert loaded.status_code == 200, asset
        assert len(loaded.content) > 100
    assert "validatorUrl: null" in page.text


def test_the_assets_come_with_their_licence() -> None:
    from openapi_ui_bundles.swagger_ui import static_path

    bundle = Path(str(static_path))
    assert (bundle / "swagger-ui-bundle.js").is_file()
    site = bundle.parents[2]
    licence = list(site.glob("openapi_ui_bundles-*.dist-info/**/LICENSE*"))
    assert licence, "openapi-ui-bundles ships its Apache-2.0 licence"


def test_the_documentation_page_renders_in_a_browser_with_no_internet(
    server: RunningServer,
) -> None:
    # Every name resolves nowhere but the loopback: a script from a CDN could not load.
    offline = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    rendered = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", offline,
         "--virtual-time-budget=15000", "--dump-dom", server.base_url + "/schema"],
        capture_output=True, text=True, timeout=90, check=True,
    )  # fmt: skip
    dom = rendered.stdout
    assert "Unable to render this definition" not in dom
    assert 'class="opblock-summary-path"' in dom, dom[-2000:]
    assert "/api/v1/conversations" in dom
    assert "WazyBot API" in dom
