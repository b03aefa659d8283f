"""Sandbox mode: the whole product on one machine, with no Meta account and no API key.

`wazybot serve` without WHATSAPP_ACCESS_TOKEN (or with WAZYBOT_SANDBOX=1) runs the Cloud API
simulator in its own process, on a loopback port of its own, as the Graph API it sends
through; a demo business owns the simulator's number, with a demo catalog and approved
templates. The webhook secret, the verify token and the access token are made at each start:
they never leave the process. Nothing reaches Meta.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import structlog

from adapters.files.catalog_file import parse_catalog
from adapters.postgres.api_tokens import PostgresApiTokens
from adapters.postgres.businesses import PostgresBusinessRegistry
from adapters.whatsapp.simulator import Business as SimulatedNumber
from adapters.whatsapp.simulator import CloudApiSimulator, running
from adapters.whatsapp.simulator.phone import SimulatorPhone
from application.businesses import Business, BusinessChanges
from application.catalog import CatalogImporter
from application.dashboard_sessions import DashboardAccess
from application.gateway import AccessToken
from application.order_settings import OrderSettingsService
from application.templates import TemplateService, WabaAccess
from domain.order_settings import OrderSettingsChanges
from entrypoints.container import Container, resolve
from entrypoints.settings import Secret, Settings

log = structlog.get_logger(__name__)

__all__ = ["Sandbox", "SandboxSecrets", "banner"]

SANDBOX_BUSINESS_ID: Final = "sandbox"
SANDBOX_BUSINESS_NAME: Final = "La Boutique Démo (sandbox)"
SANDBOX_PHONE_NUMBER_ID: Final = "555000000000101"
SANDBOX_ACCOUNT_ID: Final = "555000000000100"
SANDBOX_DISPLAY_NUMBER: Final = "15550100101"
SANDBOX_AGENT_NAME: Final = "Sandbox agent"
# Statuses come back as they would from a phone: sent, then delivered, then read.
STATUS_DELAYS: Final = (0.4, 0.8, 1.5)


@dataclass(frozen=True, slots=True)
class SandboxSecrets:
    """Made at each start; only this process and its simulator know them."""

    app_secret: str
    verify_token: str
    access_token: str

    @classmethod
    def generate(cls) -> SandboxSecrets:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(24), secrets.token_urlsafe(32))


class Sandbox:
    """The sandbox's simulator, settings and demo data, for one server process."""

    def __init__(self, settings: Settings, secrets_: SandboxSecrets | None = None) -> None:
        self.secrets = secrets_ or SandboxSecrets.generate()
        self._settings = settings
        self.simulator = CloudApiSimulator(
            access_tokens=[self.secrets.access_token],
            app_secret=self.secrets.app_secret,
            webhook_url=f"{local_url(settings)}/webhooks/whatsapp",
            business=SimulatedNumber(
                waba_id=SANDBOX_ACCOUNT_ID,
                phone_number_id=SANDBOX_PHONE_NUMBER_ID,
                display_phone_number=SANDBOX_DISPLAY_NUMBER,
            ),
            status_delays=STATUS_DELAYS,
            phone_number_ids=[SANDBOX_PHONE_NUMBER_ID],
            control_endpoints=False,
        )
        self.phone = SimulatorPhone(self.simulator)
        for template in DEMO_TEMPLATES:
            name, language = str(template["name"]), str(template["language"])
            self.simulator.add_template(
                name, language, template["components"], template_id=_stable_id(name, language)
            )

    def settings_for(self, graph_url: str) -> Settings:
        """The server's settings with the simulator as its Graph API and the sandbox secrets."""
        return dataclasses.replace(
            self._settings,
            whatsapp_graph_url=graph_url,
            whatsapp_app_secret=Secret(self.secrets.app_secret),
            whatsapp_verify_token=Secret(self.secrets.verify_token),
        )

    @asynccontextmanager
    async def simulator_running(self) -> AsyncIterator[str]:
        """Serve the simulator on a free loopback port for as long as the block runs."""
        async with running(self.simulator, host="127.0.0.1", port=0) as served:
            assert served.base_url is not None
            log.info("sandbox.simulator_started", url=served.base_url)
            yield served.base_url

    async def refusal(self, container: Container) -> str | None:
        """Why this database must not run the sandbox, or None.

        A sandbox started only because WHATSAPP_ACCESS_TOKEN is missing would point every
        business's sending at the simulator: with businesses of its own in the database, it
        is refused, as is a business named ``sandbox`` that is not the demo business.
        """
        registry: PostgresBusinessRegistry = await resolve(container.business_registry())
        businesses = await registry.all()
        own = next((b for b in businesses if b.id == SANDBOX_BUSINESS_ID), None)
        if own is not None and own.phone_number_ids != (SANDBOX_PHONE_NUMBER_ID,):
            return (f"a business {SANDBOX_BUSINESS_ID!r} that is not the demo business"
                    " exists: sandbox mode would overwrite its access token;"
                    " set WAZYBOT_SANDBOX=0")  # fmt: skip
        others = sorted(b.id for b in businesses if b.id != SANDBOX_BUSINESS_ID)
        if others and self._settings.sandbox is None:
            return (f"no WhatsApp number is configured, which starts the sandbox, but this"
                    f" database serves business(es) {', '.join(others)}: set WAZYBOT_SANDBOX=0"
                    " to serve them (their stored access tokens send), or WAZYBOT_SANDBOX=1 for"
                    " the sandbox (their sending then goes to the simulator)")  # fmt: skip
        return None

    async def prepare(self, container: Container) -> None:
        """The demo business, its catalog, templates and order settings (safe to repeat)."""
        await self._store_business(container)
        await self._import_catalog(container)
        await self._sync_templates(container)
        await self._set_order_templates(container)

    async def sign_in_path(self, container: Container, access: DashboardAccess) -> str:
        """A one-time dashboard sign-in link for the demo business's agent, as a path.

        The agent's API token ("Sandbox agent") is made once and kept: its name is the name
        on the agent's replies, and revoking it ends the sessions it opened.
        """
        tokens: PostgresApiTokens = await resolve(container.api_tokens())
        kept = [t for t in await tokens.list(SANDBOX_BUSINESS_ID)
                if t.active and t.name == SANDBOX_AGENT_NAME]  # fmt: skip
        token_id = kept[0].id if kept else None
        if token_id is None:
            token_id = (await tokens.create(SANDBOX_BUSINESS_ID, SANDBOX_AGENT_NAME)).id
        code = await access.create_sign_in_link(SANDBOX_BUSINESS_ID, token_id)
        return f"/sign-in/link?code={code}"

    async def _store_business(self, container: Container) -> None:
        registry: PostgresBusinessRegistry = await resolve(container.business_registry())
        existing = await registry.get(SANDBOX_BUSINESS_ID)
        if existing is None:
            await registry.add(
                Business(
                    id=SANDBOX_BUSINESS_ID,
                    name=SANDBOX_BUSINESS_NAME,
                    phone_number_ids=(SANDBOX_PHONE_NUMBER_ID,),
                    account_id=SANDBOX_ACCOUNT_ID,
                    access_token=self.secrets.access_token,
                )
            )
            log.info("sandbox.business_added", business_id=SANDBOX_BUSINESS_ID)
        else:
            await registry.update(
                SANDBOX_BUSINESS_ID, BusinessChanges(access_token=self.secrets.access_token)
            )

    async def _import_catalog(self, container: Container) -> None:
        data = resources.files(__package__).joinpath("demo_catalog.json").read_bytes()
        rows = parse_catalog(data, "json", "the demo catalog")
        importer = CatalogImporter(await resolve(container.event_store()))
        report = await importer.import_rows(SANDBOX_BUSINESS_ID, rows.rows)
        log.info(
            "sandbox.catalog_imported",
            products=rows.count,
            added=report.added,
            updated=report.updated,
        )

    async def _sync_templates(self, container: Container) -> None:
        service = TemplateService(
            await resolve(container.template_gateway()),
            await resolve(container.template_book()),
            await resolve(container.event_store()),
        )
        waba = WabaAccess(SANDBOX_ACCOUNT_ID, AccessToken(self.secrets.access_token))
        result = await service.sync(SANDBOX_BUSINESS_ID, waba)
        log.info("sandbox.templates_synced", listed=result.listed, changed=result.changed)

    async def _set_order_templates(self, container: Container) -> None:
        settings: OrderSettingsService = await resolve(container.order_settings())
        current = await settings.current(SANDBOX_BUSINESS_ID)
        if current.version == 0:  # never set: a business owner's choice is kept
            await settings.change(
                SANDBOX_BUSINESS_ID,
                OrderSettingsChanges(
                    confirmation_template="order_confirmation", status_template="order_update"
                ),
            )


def _stable_id(*parts: str) -> str:
    """A Meta-like numeric id that stays the same at every start (a template's, say)."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return str(10**15 + int.from_bytes(digest[:6], "big") % 10**15)


def local_url(settings: Settings) -> str:
    """Where this machine reaches the server (a wildcard listen address is not dialable)."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a listen address, not a bind)
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.port}"


def _body_template(text: str, *examples: str) -> list[dict[str, Any]]:
    return [{"type": "BODY", "text": text, "example": {"body_text": [list(examples)]}}]


DEMO_TEMPLATES: Final[tuple[dict[str, Any], ...]] = (
    {"name": "order_confirmation", "language": "fr",
     "components": _body_template("Votre commande {{1}} est enregistrée : {{2}}. Merci !",
                                  "o123", "39,80 €")},
    {"name": "order_confirmation", "language": "en",
     "components": _body_template("Your order {{1}} is booked: {{2}}. Thank you!",
                                  "o123", "€39.80")},
    {"name": "order_update", "language": "fr",
     "components": _body_template("Votre commande {{1}} : {{2}}.", "o123", "expédiée")},
    {"name": "order_update", "language": "en",
     "components": _body_template("Your order {{1}}: {{2}}.", "o123", "shipped")},
    {"name": "follow_up", "language": "fr",
     "components": _body_template("Bonjour {{1}}, pouvons-nous encore vous aider ?", "Camille")},
    {"name": "follow_up", "language": "en",
     "components": _body_template("Hello {{1}}, can we still help you?", "Camille")},
)  # fmt: skip


SignInLink = Callable[[str], Awaitable[str]]
"""Given the business id, the path of a one-time dashboard sign-in link for its agent."""


def banner(settings: Settings, sign_in_path: str | None) -> str:
    """What `wazybot serve` prints once the sandbox is up: what it is, where to go, how to
    leave it."""
    url = local_url(settings)
    lines = [
        "",
        "  WazyBot is running in SANDBOX mode.",
        "  Messages go to a built-in WhatsApp simulator, not to Meta: no real customer is reached.",
        "",
        f"  Dashboard:  {url}/",
    ]
    if sign_in_path:
        lines.append(f"  Sign in:    {url}{sign_in_path}")
        lines.append("              (one-time link, valid 15 minutes; restart for a new one)")
    lines += [
        f"  Customer:   open Phone in the dashboard to chat as a customer of "
        f"'{SANDBOX_BUSINESS_NAME}'",
        "",
        "  To serve a real WhatsApp Business number, set WHATSAPP_ACCESS_TOKEN,",
        "  WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN (see README,",
        '  "Switch to a real number").',
        "",
    ]
    return "\n".join(lines)
