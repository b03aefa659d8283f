"""Live updates: ``GET /live``, a server-sent event stream for the signed-in business.

How a page listens (htmx and its SSE extension, both under /static/vendor/):

1. Load the scripts once: ``{% block scripts %}{% include "_live_scripts.html" %}{% endblock %}``.
2. Open the stream on an element around the parts that change (one line)::

       <div {% include "_live_connect.html" %}> ... </div>

   (that is ``hx-ext="sse" sse-connect="/live" sse-close="session-ended"``).
3. Give each part that changes a fragment route and re-fetch it on its event::

       <section id="timeline" hx-get="/conversations/{{ c.id }}/timeline"
                hx-trigger="sse:conversation:{{ c.id }}, sse:refresh" hx-swap="outerHTML">

Event names (each event's data is its name; the element re-fetches, nothing is swapped from
the stream itself):

- ``conversations``: the conversation list changed.
- ``conversation:<conversation_id>``: that conversation's timeline or header changed (new
  message either way, a status tick, an escalation).
- ``metrics``: the overview's figures may have moved.
- ``orders``: an order was placed or changed (``GET /orders/rows`` re-renders the table).
- ``errors``: a failure, dead letter, webhook problem or parked event (``GET /errors/rows``).
- ``refresh``: updates may have been missed: re-fetch all. Sent first on every stream, as
  soon as the server's watcher follows the projections (a change between the page's
  rendering, or a dropped connection, and that moment would otherwise be lost; every change
  after it gets its own event), and again when the watcher reconnected.
- ``session-ended``: the session was signed out, revoked or expired; the stream ends and
  ``sse-close`` stops the browser from reconnecting.

An event is sent only once the read model behind it holds the change (application/
live_updates.py follows the projections' checkpoints), so a re-fetch right after it sees the
change. Idle streams get a comment every ``live_heartbeat_seconds`` (15 s) so proxies keep
them open; a stream ends when the browser goes away, at sign-out or revocation.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Final

from litestar import get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from application.dashboard_sessions import digest
from entrypoints.dashboard.web import SESSION_COOKIE, AnyRequest, Services, Session

SESSION_ENDED: Final = "session-ended"
RECONNECT_MILLISECONDS: Final = 3000


@get("/live", include_in_schema=False)
async def live(request: AnyRequest, session: Session, dashboard: Services) -> ServerSentEvent:
    hub = dashboard.live_hub()
    heartbeat = dashboard.live_heartbeat_seconds
    subscription = hub.subscribe(
        session.business_id, digest(request.cookies.get(SESSION_COOKIE, ""))
    )

    async def stream() -> AsyncGenerator[ServerSentEventMessage, None]:
        try:
            yield ServerSentEventMessage(comment="live", retry=RECONNECT_MILLISECONDS)
            # The first topic is EVERYTHING, once the watcher follows: what changed between the
            # page's rendering (or a dropped stream) and then is re-fetched, what changes after
            # it has its own event.
            while True:
                topics = await subscription.next(heartbeat)
                for topic in topics:
                    yield ServerSentEventMessage(event=topic, data=topic)
                if subscription.ended:
                    yield ServerSentEventMessage(event=SESSION_ENDED, data=SESSION_ENDED)
                    return
                if not topics:
                    yield ServerSentEventMessage(comment="keep-alive")
        finally:
            hub.unsubscribe(subscription)

    return ServerSentEvent(
        stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


LIVE_HANDLERS: Final = (live,)
