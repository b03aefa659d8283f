"""End to end: a signed account update posted to a running server becomes one team notice."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.server import serve
from tests.e2e.test_webhook import post, query, server_env
from tests.support.receivers import http_receiver
from tests.support.webhooks import CASES_BY_NAME, encode


def test_an_account_restriction_reaches_the_team_once(database_url: str, tmp_path: Path) -> None:
    restriction = encode(CASES_BY_NAME["account_update/account_restriction"])
    violation = encode(CASES_BY_NAME["account_update/account_violation"])
    with http_receiver(failures=1) as receiver:
        env = server_env(database_url, WAZYBOT_NOTIFY_WEBHOOK_URL=receiver.url,
                         WAZYBOT_SUBSCRIBER_POLL_SECONDS="0.2")  # fmt: skip
        with serve(env, tmp_path / "server.log") as server:
            assert post(server, restriction).status_code == 200
            assert post(server, restriction).status_code == 200  # Meta redelivers it
            assert post(server, violation).status_code == 200
            # The receiver fails its first call: the notice comes on a retry.
            bodies = receiver.wait_for(2, timeout=30)
            logs = server.logs()

    assert sorted(b["event"] for b in bodies) == ["account.account_restriction",
                                                  "account.account_violation"]  # fmt: skip
    (restricted,) = [b for b in bodies if b["event"] == "account.account_restriction"]
    assert restricted["business_id"] == "default"
    assert restricted["text"].startswith("WhatsApp account 102290129340398 of business default")
    assert restricted["details"]["meta"]["restriction_info"][0]["restriction_type"] == (
        "RESTRICTED_BIZ_INITIATED_MESSAGING"
    )
    assert receiver.attempts == 3
    assert query(database_url, "select count(*) from team_notices")[0][0] == 2
    assert "notice.delivery_failed" in logs
    assert receiver.url not in logs  # the webhook URL may be a secret: never logged
