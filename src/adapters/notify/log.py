"""The default channel: one structured log line per notice."""

from __future__ import annotations

from typing import Final

import structlog

from application.notices import Notice

log = structlog.get_logger("wazybot.notice")


class LogNotifier:
    channel: Final = "log"

    async def send(self, notice: Notice) -> None:
        log.warning(
            "team.notice", text=notice.text, notice_event=notice.event,
            business_id=notice.business_id, conversation_id=notice.conversation_id,
            details=notice.details,
        )  # fmt: skip
