"""Headers on every dashboard page: no framing, no inline scripts, nothing cached."""

from __future__ import annotations

from typing import Final

from litestar import Response

# Scripts and styles come from /static/ only (no inline code, no eval); the chart's data is
# an inert application/json block. Framing is refused: a hostile page could otherwise trick
# a click on "Take over" or "Sign out".
CONTENT_SECURITY_POLICY: Final = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
))  # fmt: skip

PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Customer data must not come back from a cache (the back button after signing out).
    "Cache-Control": "no-store",
    # A one-time sign-in link in the address bar never leaves in a Referer header.
    "Referrer-Policy": "same-origin",
}


async def page_headers(response: Response[object]) -> Response[object]:
    for name, value in PAGE_HEADERS.items():
        response.headers.setdefault(name, value)
    vary = response.headers.get("Vary")
    response.headers["Vary"] = (
        f"{vary}, Cookie, Accept-Language" if vary else "Cookie, Accept-Language"
    )
    return response
