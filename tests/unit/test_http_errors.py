"""The error mechanism on its own: every status the API may answer maps to the shared shape."""

from __future__ import annotations

import asyncpg
import pytest
import structlog
from litestar import Litestar, get
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.testing import TestClient

from entrypoints.errors import CODES, ERROR_CODES, EXCEPTION_HANDLERS, error_codes_table
from entrypoints.http import correlation_middleware

STATUSES = (400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503)


@get("/boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("postgresql://app:secret@db/x exploded")


@get("/status/{code:int}", sync_to_thread=False)
def status(code: FromPath[int]) -> None:
    raise HTTPException(status_code=code)


DATABASE_TROUBLE = {
    "refused": ConnectionRefusedError("connection refused"),
    "restarting": asyncpg.AdminShutdownError("terminating connection due to administrator"),
    "cancelled": asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    "full": asyncpg.DiskFullError("could not extend file"),
    "closing": asyncpg.InterfaceError("pool is closing"),
}


@get("/database-down/{kind:str}", sync_to_thread=False)
def database_down(kind: FromPath[str]) -> None:
    raise DATABASE_TROUBLE[kind]


def client() -> TestClient[Litestar]:
    app = Litestar(
        [boom, status, database_down], exception_handlers=EXCEPTION_HANDLERS, logging_config=None
    )
    app.asgi_handler = correlation_middleware(app.asgi_handler)
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("code", STATUSES)
def test_each_framework_status_gets_its_stable_code(code: int) -> None:
    with client() as http, structlog.testing.capture_logs() as logs:
        response = http.get(f"/status/{code}", headers={"X-Request-ID": "req-1"})
    body = response.json()
    assert response.status_code == code
    assert CODES[body["error"]].status == code
    assert body["request_id"] == response.headers["x-request-id"] == "req-1"
    assert body["message"].endswith(".")
    (logged,) = [e for e in logs if e["event"].startswith("http.") and "error" in e["event"]]
    assert logged["log_level"] == ("warning" if code < 500 else "error")


def test_an_unexpected_exception_is_a_500_logged_as_an_error_without_its_details_in_the_body() -> (
    None
):
    with client() as http, structlog.testing.capture_logs() as logs:
        response = http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "message": CODES_MESSAGE,
        "request_id": response.headers["x-request-id"],
    }
    (logged,) = [e for e in logs if e["event"] == "http.unhandled_error"]
    assert logged["log_level"] == "error"
    assert logged["error_type"] == "RuntimeError"
    assert isinstance(logged["exc_info"], RuntimeError)


CODES_MESSAGE = "Something went wrong on our side; the request id identifies it."


def test_codes_are_unique_and_the_readme_table_lists_them_all() -> None:
    assert len({c.code for c in ERROR_CODES}) == len(ERROR_CODES)
    table = error_codes_table()
    assert all(f"`{c.code}`" in table for c in ERROR_CODES)


@pytest.mark.parametrize("kind", DATABASE_TROUBLE)
def test_an_unreachable_database_is_a_503_the_caller_may_retry(kind: str) -> None:
    with client() as http, structlog.testing.capture_logs() as logs:
        response = http.get(f"/database-down/{kind}")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    (logged,) = [e for e in logs if e["event"] == "http.unhandled_error"]
    assert logged["log_level"] == "error"
