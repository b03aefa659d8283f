"""One error shape for every error answer of the HTTP API, and one log line per error.

Every error body is ``{"error", "message", "parameter"?, "request_id"}``. ``error`` is one of
the stable codes below (documented in the README); clients branch on it, never on the text.
Handlers raise ``ApiError`` (or a framework exception, or ``QueryError``) and the exception
handlers here shape the answer: nothing else writes an error body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

import asyncpg
import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.types import ExceptionHandlersMap

from application.read_models import QueryError

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER: Final = "x-request-id"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    status: int
    meaning: str


ERROR_CODES: Final = (
    ErrorCode("invalid_parameter", 400, "a query or path parameter is wrong; `parameter` names it"),
    ErrorCode("invalid_json", 400, "the body is not valid JSON; the message says where"),
    ErrorCode("bad_payload", 400, "the body is JSON but not the shape this endpoint reads"),
    ErrorCode("bad_request", 400, "the request cannot be read for another reason"),
    ErrorCode("unauthorized", 401, "no valid bearer token (or it was revoked)"),
    ErrorCode("bad_signature", 401, "a webhook body without a valid X-Hub-Signature-256"),
    ErrorCode("forbidden", 403, "the credentials are valid but do not open this resource"),
    ErrorCode("not_found", 404, "no such route, or no such resource for this business"),
    ErrorCode("method_not_allowed", 405, "the route exists but not for this method (see Allow)"),
    ErrorCode("conflict", 409, "the request conflicts with the current state"),
    ErrorCode("order_status_conflict", 409, "the order's status does not allow that move (e.g. "
              "shipping an order the customer has not confirmed)"),
    ErrorCode("service_window_closed", 409, "a free-form message outside the 24-hour window"),
    ErrorCode("idempotency_key_reused", 422, "this Idempotency-Key came with a different request"),
    ErrorCode("template_not_approved", 409, "the business has no APPROVED template of that "
              "name in that language; `parameter` names template.name or template.language"),
    ErrorCode("template_not_synced", 409, "the template is known only from Meta's "
              "notifications: run `wazybot templates sync`"),
    ErrorCode("template_mismatch", 400, "the template's variables are not filled as its "
              "stored components need; `parameter` names the field"),
    ErrorCode("payload_too_large", 413, "the body is larger than this endpoint accepts"),
    ErrorCode("file_too_large", 413, "a file is larger than WhatsApp accepts for its type"),
    ErrorCode("unsupported_file_type", 400, "WhatsApp does not accept files of this type"),
    ErrorCode("unsupported_media_type", 415, "the body's Content-Type is not accepted"),
    ErrorCode("unprocessable", 422, "the request is well-formed but cannot be processed"),
    ErrorCode("rate_limited", 429, "too many requests; retry after the Retry-After delay"),
    ErrorCode("internal_error", 500, "a fault of the server; the request id finds it in the logs"),
    ErrorCode("upstream_error", 502, "Meta's Graph API refused or failed; the message says which"),
    ErrorCode("media_too_large", 502, "the file at Meta is larger than WAZYBOT_MEDIA_MAX_BYTES"),
    ErrorCode("not_configured", 503, "the server lacks a setting this endpoint needs"),
    ErrorCode("unavailable", 503, "the server is starting or its storage failed; retry"),
)  # fmt: skip
CODES: Final = {code.code: code for code in ERROR_CODES}


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The body of every error answer."""

    error: Annotated[
        str, msgspec.Meta(description="A stable code: " + ", ".join(CODES) + " (see the README).")
    ]
    message: Annotated[str, msgspec.Meta(description="One readable sentence saying what is wrong.")]
    parameter: Annotated[
        str | None, msgspec.Meta(description="The parameter at fault; absent when none is.")
    ] = None
    request_id: Annotated[
        str, msgspec.Meta(description="The X-Request-ID of the request; the logs carry it too.")
    ]


_BY_STATUS: Final = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "unprocessable", 429: "rate_limited",
    500: "internal_error", 503: "unavailable",
}  # fmt: skip
_DEFAULT_MESSAGES: Final = {
    "bad_request": "The request could not be read.",
    "unauthorized": "A valid bearer token is required.",
    "forbidden": "This request is not allowed.",
    "not_found": "There is nothing at this address.",
    "method_not_allowed": "This method is not allowed here.",
    "conflict": "The request conflicts with the current state.",
    "payload_too_large": "The request body is too large.",
    "unsupported_media_type": "The request body's media type is not accepted.",
    "unprocessable": "The request could not be processed.",
    "rate_limited": "Too many requests; slow down and retry later.",
    "internal_error": "Something went wrong on our side; the request id identifies it.",
    "unavailable": "The service is unavailable; try again shortly.",
}


class ApiError(HTTPException):
    """An error answer with one of the stable codes; raise it from any handler."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        parameter: str | None = None,
        headers: Mapping[str, str] | None = None,
        log_fields: Mapping[str, Any] | None = None,
    ) -> None:
        known = CODES[code]
        super().__init__(detail=message, status_code=known.status, headers=dict(headers or {}))
        self.code = code
        self.message = message
        self.parameter = parameter
        self.log_fields = dict(log_fields or {})


def request_id_of(request: Request[Any, Any, Any]) -> str:
    bound = structlog.contextvars.get_contextvars().get("correlation_id")
    return str(bound) if bound else request.headers.get(REQUEST_ID_HEADER, "")


def error_response(request: Request[Any, Any, Any], error: ApiError) -> Response[ErrorBody]:
    request_id = request_id_of(request)
    _log(request, error)
    return Response(
        ErrorBody(
            error=error.code,
            message=error.message,
            parameter=error.parameter,
            request_id=request_id,
        ),
        status_code=error.status_code,
        headers=error.headers,  # X-Request-ID is added to every answer by the HTTP layer
        media_type=MediaType.JSON,
    )


def _log(request: Request[Any, Any, Any], error: ApiError) -> None:
    fields = {
        "status": error.status_code,
        "error": error.code,
        "message": error.message,
        "method": request.method,
        "path": request.url.path,
        **({"parameter": error.parameter} if error.parameter else {}),
        **error.log_fields,
    }
    if error.status_code < 500:
        log.warning("http.client_error", **fields)
    elif error.__cause__ is not None and not isinstance(error.__cause__, HTTPException):
        log.error("http.unhandled_error", **fields, exc_info=error.__cause__)
    else:
        log.error("http.server_error", **fields)


def _api_error(request: Request[Any, Any, Any], error: ApiError) -> Response[ErrorBody]:
    return error_response(request, error)


def _query_error(request: Request[Any, Any, Any], error: QueryError) -> Response[ErrorBody]:
    problem = str(error).removeprefix(f"{error.parameter}: ")
    shaped = ApiError(
        "invalid_parameter",
        f"Invalid query parameter '{error.parameter}': {problem}.",
        parameter=error.parameter,
    )
    return error_response(request, shaped)


def _validation_error(
    request: Request[Any, Any, Any], error: ValidationException
) -> Response[ErrorBody]:
    """Litestar's own checks: a parameter of a wrong type or missing, a body it cannot read."""
    details = error.extra if isinstance(error.extra, list) else []
    first = details[0] if details and isinstance(details[0], dict) else {}
    parameter = first.get("key")
    detail = str(first.get("message") or error.detail)
    if first.get("source") == "body":  # a field of the body ("data": the body itself)
        return error_response(request, _body_error(parameter, detail))
    if parameter:
        shaped = ApiError("invalid_parameter", f"Invalid parameter '{parameter}': {detail}.",
                          parameter=str(parameter))  # fmt: skip
    elif "json" in detail.lower() or "malformed" in detail.lower():
        shaped = ApiError("invalid_json", f"The body is invalid JSON: {detail}.")
    else:
        shaped = ApiError("bad_request", _sentence(detail, "bad_request"))
    return error_response(request, shaped)


def _is_json_decode_error(error: HTTPException) -> bool:
    cause = error.__cause__
    return isinstance(cause, SerializationException) and isinstance(
        cause.__cause__, msgspec.DecodeError
    )


def _body_error(field: Any, detail: str) -> ApiError:
    if field == "data" and detail == "'data'":
        return ApiError("bad_payload", "A JSON object body is required.")
    named = str(field) if field and field != "data" else None
    where = f" at '{named}'" if named else ""
    return ApiError("bad_payload", f"The body does not fit{where}: {detail}.", parameter=named)


def _http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[ErrorBody]:
    if _is_json_decode_error(error):  # a body the framework could not parse as JSON
        shaped = ApiError("invalid_json", f"The body is invalid JSON: {error.detail}.")
        return error_response(request, shaped)
    code = _BY_STATUS.get(error.status_code) or ("internal_error" if error.status_code >= 500
                                                 else "bad_request")  # fmt: skip
    shaped = ApiError(
        code,
        _sentence(error.detail, code),
        headers=error.headers,
    )
    shaped.status_code = error.status_code  # keep a status the table maps to a shared code
    return error_response(request, shaped)


# The database is unreachable or overloaded: the caller should retry, it is not a bug.
_UNAVAILABLE: Final = (
    ConnectionError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InsufficientResourcesError,  # too many connections, out of memory or disk
    asyncpg.OperatorInterventionError,  # a restarting server, a cancelled statement
    asyncpg.InterfaceError,  # the pool closing while the process stops
)


def _unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
    unavailable = isinstance(error, _UNAVAILABLE)
    shaped = ApiError(
        "unavailable" if unavailable else "internal_error",
        _DEFAULT_MESSAGES["unavailable" if unavailable else "internal_error"],
        log_fields={"error_type": type(error).__name__},
    )
    shaped.__cause__ = error
    return error_response(request, shaped)


def _sentence(detail: str, code: str) -> str:
    """The exception's own text when it says more than the status phrase, else ours."""
    text = (detail or "").strip()
    generic = (
        not text
        or text.lower() == code.replace("_", " ")
        or (text[0].isupper() and (text.title() == text))
    )
    if generic:
        return _DEFAULT_MESSAGES[code]
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


EXCEPTION_HANDLERS: Final[ExceptionHandlersMap] = {
    ApiError: _api_error,
    QueryError: _query_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected_error,
}


def error_codes_table() -> str:
    """The README's table of error codes, generated from the same list the server uses."""
    lines = ["| code | status | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{c.code}` | {c.status} | {c.meaning} |" for c in ERROR_CODES]
    return "\n".join(lines)
