"""The simulator's webhook delivery timeout: scaled with the call's time for tests, Retell's
own when a benchmark says so."""

from __future__ import annotations

import pytest

from adapters.settings import SimulatorSettings
from simulator.webhooks import WebhookPolicy


@pytest.mark.parametrize(("time_scale", "expected"), [(1.0, 10.0), (0.2, 2.0), (0.01, 0.5)])
def test_the_attempt_timeout_follows_the_time_scale_down_to_half_a_second(
    time_scale: float, expected: float
) -> None:
    policy = WebhookPolicy.scaled("http://x/webhooks", "key", time_scale)
    assert policy.attempt_timeout_s == pytest.approx(expected)
    assert policy.retry_delay_s == pytest.approx(time_scale)


def test_a_given_attempt_timeout_is_kept_whatever_the_time_scale() -> None:
    policy = WebhookPolicy.scaled("http://x/webhooks", "key", 0.01, attempt_timeout_s=10.0)
    assert policy.attempt_timeout_s == 10.0
    assert policy.retry_delay_s == pytest.approx(0.01)


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMULATOR_WEBHOOK_TIMEOUT_S", "10")
    assert SimulatorSettings().simulator_webhook_timeout_s == 10.0
    monkeypatch.setenv("SIMULATOR_WEBHOOK_TIMEOUT_S", "0")
    with pytest.raises(ValueError, match="simulator_webhook_timeout_s"):
        SimulatorSettings()
