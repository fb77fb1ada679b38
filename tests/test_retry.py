"""The one retry policy (`schemas.retry`) and the two HTTP clients that use it."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time

import pytest

from schemas.config import load_config
from schemas.config_docmatix import LlmConfig
from schemas.retry import RetryPolicy, parse_retry_after
from synth.llm import ChatClient, HttpTransport
from tests.llm_server import LlmServer, Reply, ok


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "value, seconds",
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: retry now
        (email.utils.formatdate(1_800_000_060, usegmt=True), 60.0),  # 60 s after `now`
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(value, seconds):
    assert parse_retry_after(value, now=1_800_000_000) == seconds


@pytest.mark.timeout(30)
def test_backoff_grows_is_capped_jittered_and_the_server_hint_is_capped():
    policy = RetryPolicy(max_attempts=10, backoff_s=1, backoff_max_s=5, retry_after_max_s=30)
    rng = random.Random(0)
    for attempt, base in [(1, 1), (2, 2), (3, 4), (4, 5), (9, 5)]:
        waits = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert base * 0.5 <= min(waits) and max(waits) < base  # jitter in [0.5, 1) of the base
    assert policy.delay(1, 12.0, rng) == 12.0 and policy.delay(1, 3600.0, rng) == 30.0
    assert policy.delay(2, 0.0, rng) < 2  # 0: no hint, our own backoff


@pytest.mark.timeout(30)
def test_no_retry_past_the_attempts_or_the_deadline():
    policy = RetryPolicy(max_attempts=3, backoff_s=1, backoff_max_s=1, deadline_s=10)
    assert policy.next_delay(3, started=0, now=0) is None
    assert policy.next_delay(1, started=0, now=2) is not None
    assert policy.next_delay(1, started=0, now=9.6) is None  # the wait would end past 10 s
    assert policy.next_delay(1, started=0, retry_after=20, now=0) is None


def chat(server: LlmServer, *overrides: str):
    cfg = load_config(
        LlmConfig, None, [f"endpoint_url={server.url}", "backoff_s=0.01", "request_timeout_s=5", *overrides]
    )

    async def run():
        async with HttpTransport(cfg.endpoint_url, 2, cfg.request_timeout_s) as transport:
            client = ChatClient(transport, cfg)
            start = time.monotonic()
            result = await client.chat([{"role": "user", "content": "hello"}])
            return result, time.monotonic() - start

    return asyncio.run(run())


@pytest.mark.timeout(60)
def test_llm_client_waits_what_an_http_date_asks_capped():
    soon = email.utils.formatdate(time.time() + 2, usegmt=True)
    with LlmServer({"hello": [Reply(503, retry_after=soon), ok([("Q?", "A.")])]}) as server:
        result, seconds = chat(server)
    assert result.ok and result.attempts == 2 and 0.8 <= seconds < 4  # ~1-2 s: the date, to the second
    far = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with LlmServer({"hello": [Reply(429, retry_after=far), ok([("Q?", "A.")])]}) as server:
        result, seconds = chat(server, "retry_after_max_s=0.5")
    assert result.ok and 0.4 <= seconds < 3  # an hour asked, half a second waited


@pytest.mark.timeout(60)
def test_llm_client_gives_up_at_its_deadline():
    with LlmServer({"hello": [Reply(500)]}) as server:
        result, seconds = chat(
            server, "max_attempts=50", "backoff_s=0.2", "backoff_max_s=0.2", "deadline_s=1"
        )
    assert not result.ok and result.transient and seconds < 2
    assert "llm.deadline_s=1 reached" in result.error and 2 <= result.attempts < 50
