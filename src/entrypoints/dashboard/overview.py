"""The overview at /: metric cards, messages over time, the connection status."""

from __future__ import annotations

from typing import Final

from litestar import get
from litestar.response import Template

from entrypoints.dashboard.web import AnyRequest, Services, Session, render


@get("/", include_in_schema=False)
async def overview(request: AnyRequest, session: Session, dashboard: Services) -> Template:
    return render(request, "placeholder.html", title_key="nav.overview")


OVERVIEW_HANDLERS: Final = (overview,)
