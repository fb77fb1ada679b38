"""One retry policy for every HTTP client of the project: the image fetcher (`pipelines.fetch`)
and the LLM client (`synth.llm`).

- capped exponential backoff with jitter: ``backoff_s * 2**(attempt - 1)``, at most
  ``backoff_max_s``, times a uniform factor in [0.5, 1) so that many clients refused at once do not
  come back at once;
- a server's ``Retry-After`` wins over our own guess, in delta-seconds or as an HTTP date
  (RFC 9110 section 10.2.3), and is cut to ``retry_after_max_s``: a server asking for an hour
  does not stall a task for an hour;
- a deadline per request, retries and waits included: no retry starts that could not end in
  time.

It lives in `schemas` because that is the one package both clients may import (DESIGN.md: imports
run one way, and `synth` does not import `pipelines`). tenacity would wrap the call, but both
clients decide per failure whether to retry and what to count, so the loop stays theirs and only
the arithmetic is shared.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date, a past date is 0);
    None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_s: float = 0.5  # the first backoff, doubled per retry
    backoff_max_s: float = 10.0
    retry_after_max_s: float = 30.0  # a larger Retry-After is cut to this
    deadline_s: float | None = None  # one request, every try and wait included

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed try number `attempt` (1-based)."""
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.retry_after_max_s)
        base = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return base * (0.5 + (rng or random).random() / 2)

    def next_delay(
        self,
        attempt: int,
        started: float,
        retry_after: float | None = None,
        rng: random.Random | None = None,
        now: float | None = None,
    ) -> float | None:
        """The wait before try `attempt` + 1, or None when there is none: `max_attempts` tries made,
        or the wait would end past the deadline (`started` and `now` on `time.monotonic`)."""
        if attempt >= self.max_attempts:
            return None
        wait = self.delay(attempt, retry_after, rng)
        if self.deadline_s is not None:
            elapsed = (time.monotonic() if now is None else now) - started
            if elapsed + wait >= self.deadline_s:
                return None
        return wait
