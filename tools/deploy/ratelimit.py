"""A token bucket per API key: `rate_per_min` requests a minute on average, bursts up to `burst`.

In memory and per gateway process: replicas behind a load balancer each allow the rate (say so in the
deployment's README section). A bucket refills continuously, so a client sending at the rate never waits.
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rate_per_min: float = 600.0, burst: int | None = None):
        self.rate_per_min = rate_per_min
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    def allow(self, key: str, rate_per_min: float | None = None) -> tuple[bool, float]:
        """Take one token for `key`; returns (allowed, seconds until the next token when refused)."""
        rate = (rate_per_min or self.rate_per_min) / 60.0
        # Default burst: six seconds' worth of requests (at least one), so a short spike of a chat UI passes.
        capacity = float(self.burst or max(1.0, rate * 6.0))
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return True, 0.0
            self._buckets[key] = (tokens, now)
            return False, (1.0 - tokens) / rate
