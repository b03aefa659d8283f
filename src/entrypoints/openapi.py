"""The OpenAPI document at /schema, and its documentation page served without any CDN."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from litestar import Request, Router
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from openapi_ui_bundles.swagger_ui import static_path as swagger_ui_path

from entrypoints.errors import CODES, ErrorBody

SCHEMA_PATH: Final = "/schema"
ASSETS_PATH: Final = f"{SCHEMA_PATH}/assets"
BEARER: Final = "bearer"
SECURITY: Final[list[dict[str, list[str]]]] = [{BEARER: []}]
_DESCRIPTION: Final = """\
The API of WazyBot (conversations and their timelines, metrics, errors, sending and the
outbox, templates, media, the assistant's settings) and the WhatsApp webhook Meta calls.

Every `/api/v1` request needs `Authorization: Bearer <token>` (create one with
`wazybot tokens create --business ID`); a token sees exactly one business.

Every error answer has the same JSON body (`ErrorBody`): a stable `error` code, a readable
`message`, the `parameter` at fault when there is one, and the `request_id` that the
`X-Request-ID` response header also carries.
"""
_STATUS_WHEN: Final = {
    400: "A parameter (named in `parameter`) or the body is wrong.",
    401: "The credentials are missing or wrong.",
    403: "The request is refused.",
    404: "No such resource for this business.",
    409: "The request conflicts with the current state of the resource.",
    413: "The body is larger than the server accepts.",
    422: "The request is well-formed but cannot be carried out.",
    415: "The body's Content-Type is not accepted.",
    500: "A fault of the server; `request_id` finds it in the logs.",
    502: "Meta's Graph API refused or failed, or its file is too large.",
    503: "The server is starting, not configured for this, or its storage failed: retry.",
}


def package_version() -> str:
    try:
        return version("wazybot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers an operation may give, each with the shared error body."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody,
            description=f"{_STATUS_WHEN[status]} Codes: {_codes_of(status)}.",
            generate_examples=False,
        )
        for status in (*statuses, 500)
    }


def _codes_of(status: int) -> str:
    return ", ".join(f"`{c.code}`" for c in CODES.values() if c.status == status)


class OfflineSwaggerPlugin(SwaggerRenderPlugin):
    """Swagger UI from the files this server serves; the online spec validator switched off."""

    def __init__(self) -> None:
        super().__init__(
            path=["/", "/swagger"],
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        page = super().render(request, openapi_schema)
        # Swagger UI otherwise sends the document to an online validator for its badge.
        return page.replace(b"deepLinking: true,", b"deepLinking: true,\n validatorUrl: null,", 1)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="WazyBot API",
        version=package_version(),
        description=_DESCRIPTION,
        path=SCHEMA_PATH,
        use_handler_docstrings=True,
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API token from `wazybot tokens create` (or WAZYBOT_API_TOKEN).",
                )
            }
        ),
        render_plugins=[OfflineSwaggerPlugin(), JsonRenderPlugin()],
    )


def documentation_assets() -> Router:
    """Swagger UI 5 (it reads OpenAPI 3.1), from the openapi-ui-bundles package (Apache-2.0)."""
    return create_static_files_router(
        path=ASSETS_PATH, directories=[swagger_ui_path], name="openapi-assets"
    )
