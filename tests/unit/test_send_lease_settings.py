"""WAZYBOT_SEND_LEASE_SECONDS: validated, and the send's time limit stays inside the lease."""

from __future__ import annotations

import pytest

from entrypoints.container import sender_settings
from entrypoints.settings import SettingsError, load_settings


def test_the_lease_is_90_seconds_and_a_send_gives_up_after_60_by_default() -> None:
    sender = sender_settings(load_settings({}))

    assert (sender.lease_seconds, sender.send_timeout) == (90.0, 60.0)


def test_a_short_lease_shortens_the_send_time_limit_to_two_thirds_of_it() -> None:
    sender = sender_settings(load_settings({"WAZYBOT_SEND_LEASE_SECONDS": "6"}))

    assert (sender.lease_seconds, sender.send_timeout) == (6.0, 4.0)


def test_a_long_lease_keeps_the_usual_send_time_limit() -> None:
    sender = sender_settings(load_settings({"WAZYBOT_SEND_LEASE_SECONDS": "600"}))

    assert (sender.lease_seconds, sender.send_timeout) == (600.0, 60.0)


@pytest.mark.parametrize("value", ["soon", "2.9", "0", "-5", "3601", "nan"])
def test_a_lease_out_of_range_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({"WAZYBOT_SEND_LEASE_SECONDS": value})

    assert "WAZYBOT_SEND_LEASE_SECONDS must be a number of seconds from 3 to 3600" in str(
        raised.value
    )
