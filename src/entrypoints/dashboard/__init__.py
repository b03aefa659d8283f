"""The WazyBot dashboard: server-rendered HTML pages at the site's root.

How the pieces fit (extension points):

- **A page registers its route** in its own module (``overview.py``, ``conversations.py``...):
  Litestar handlers with ``include_in_schema=False``, exported as a tuple
  (``OVERVIEW_HANDLERS``) and added to ``PAGE_HANDLERS`` in ``pages.py``. Every handler there
  runs behind ``web.guard``: no session -> redirect to /sign-in; a POST without its CSRF token
  -> 403 page, the handler never runs. A route that needs no session says
  ``opt={web.PUBLIC: True}``. Its nav entry is in ``web.NAV`` (``sandbox_only`` for Phone).
- **The signed-in business and agent**: take ``session: Session`` (``web.Session``) as a
  parameter: ``session.business_id``, ``session.agent_name`` (the API token's name; None for
  WAZYBOT_API_TOKEN or an unnamed token), ``session.csrf_token``. Never take a business id
  from the request: one business's session only ever reads its own data.
- **Services**: take ``dashboard: Services`` (the ``DashboardSlot`` filled at start-up in
  ``entrypoints/http.py``): ``dashboard.read_models()``, ``handoff_service()``,
  ``message_sending()``, ``template_listing()``, ``order_views()``... and the optional
  ``dashboard.status`` (connection status card) and ``dashboard.phone`` (sandbox only).
- **Rendering**: ``web.render(request, "page.html", **context)``; templates extend
  ``base.html`` and fill ``{% block content %}`` (``{% block scripts %}`` for scripts). The
  layout gets ``lang``, ``t`` (translate), ``session``, ``csrf_token``, ``nav``.
- **Forms carry the CSRF token**: ``<input type="hidden" name="{{ csrf_field }}"
  value="{{ csrf_token }}">``; htmx requests send it as the ``X-CSRF-Token`` header (set on
  <body> through ``hx-headers``). Read fields with ``await web.form_of(request)`` and answer
  with ``web.redirect_back(path, notice="key")`` (shown as ``t("notice.key")``).
- **Words**: every label goes in both catalogs of ``i18n.py`` (``EN`` and ``FR``, same keys).
- **Static files**: ``static/`` is served at ``/static/``; vendored libraries at
  ``/static/vendor/`` (never a CDN).
- **Errors**: raise ``web.PageNotFoundError`` for a 404 page.
- **Live updates** (``live.py``, ``GET /live``, server-sent events): a page opens the stream
  with one line around the parts that change, ``<div {% include "_live_connect.html" %}>``,
  loads the SSE extension in its scripts block (``{% include "_live_scripts.html" %}``), and
  re-fetches a fragment route on an event: ``hx-get="/conversations/{{ c.id }}/timeline"
  hx-trigger="sse:conversation:{{ c.id }}, sse:refresh" hx-swap="outerHTML"``. Events:
  ``conversations``, ``conversation:<conversation_id>``, ``metrics``, ``orders``, ``errors``,
  ``refresh`` (re-fetch everything) and ``session-ended``. Each is sent only once the read
  models behind it hold the change, so the re-fetch sees it (see ``live.py``).

Sessions themselves (sign-in with a token, one-time links, revocation) live in
``application/dashboard_sessions.py``.
"""

from entrypoints.dashboard.pages import dashboard_router, template_config
from entrypoints.dashboard.slot import DashboardSlot

__all__ = ["DashboardSlot", "dashboard_router", "template_config"]
