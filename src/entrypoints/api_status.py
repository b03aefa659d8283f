"""GET /api/v1/status: is the business's WhatsApp connection working, and if not, why."""

from __future__ import annotations

from typing import Final

from litestar import get
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from application.connection_status import (
    ConnectionStatus,
    ConnectionStatusService,
    UnknownBusinessError,
)
from entrypoints.errors import ApiError
from entrypoints.openapi import error_responses

Status = NamedDependency[SkipValidation[ConnectionStatusService]]


@get("/status", responses=error_responses(401, 404, 503))
async def get_status(business_id: str, connection_status: Status) -> ConnectionStatus:
    """The business's WhatsApp connection: Meta accepts its access token, knows its phone
    numbers, and an app receives its account's webhooks; each check says what to fix.
    Results are reused for up to 30 s (5 s when something is wrong). The answer is 200
    whether or not the connection works: read `connected` and `checks`."""
    try:
        return await connection_status.status(business_id)
    except UnknownBusinessError:
        raise ApiError(
            "not_found",
            "This token's business is not set up: it was removed, or never added (`wazybot "
            "business add`, or WHATSAPP_PHONE_NUMBER_ID for the default business).",
        ) from None


STATUS_HANDLERS: Final = (get_status,)
