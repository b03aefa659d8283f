"""The dashboard's routes: every page module's handlers, behind the session and CSRF guard."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from litestar import Router
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from entrypoints.dashboard.auth import AUTH_HANDLERS
from entrypoints.dashboard.conversations import CONVERSATION_HANDLERS
from entrypoints.dashboard.errors import ERRORS_HANDLERS
from entrypoints.dashboard.live import LIVE_HANDLERS
from entrypoints.dashboard.orders import ORDERS_HANDLERS
from entrypoints.dashboard.overview import OVERVIEW_HANDLERS
from entrypoints.dashboard.phone import PHONE_HANDLERS
from entrypoints.dashboard.slot import DashboardSlot
from entrypoints.dashboard.web import EXCEPTION_HANDLERS, guard, provide_session

HERE: Final = Path(__file__).parent
TEMPLATES_DIR: Final = HERE / "templates"
STATIC_DIR: Final = HERE / "static"

# Every page's handlers: a new page module exports a tuple of handlers and is added here.
PAGE_HANDLERS: Final[tuple[HTTPRouteHandler, ...]] = (
    *AUTH_HANDLERS,
    *OVERVIEW_HANDLERS,
    *CONVERSATION_HANDLERS,
    *ORDERS_HANDLERS,
    *ERRORS_HANDLERS,
    *LIVE_HANDLERS,
    *PHONE_HANDLERS,
)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    def tidy(engine: JinjaTemplateEngine) -> None:
        engine.engine.trim_blocks = True
        engine.engine.lstrip_blocks = True

    return TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=tidy)


def dashboard_router(slot: DashboardSlot) -> Router:
    """The pages at the site's root (each behind ``guard``) and the files under /static/."""

    def services() -> DashboardSlot:
        return slot

    pages = Router(
        path="/",
        route_handlers=list(PAGE_HANDLERS),
        dependencies={
            "session": Provide(provide_session, sync_to_thread=False),
            "dashboard": Provide(services, sync_to_thread=False),
        },
        before_request=guard(slot),
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/static", directories=[STATIC_DIR], name="dashboard-static",
        include_in_schema=False,
    )  # fmt: skip
    return Router(path="/", route_handlers=[pages, static], include_in_schema=False)
