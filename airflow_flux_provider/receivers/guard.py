"""What a receiver lets through beyond a valid proof: no replays, no floods.

A verified request can still be sent again (a retry, or a captured delivery replayed) or
arrive in a flood that would start a DAG run each time. :class:`DeliveryLog` remembers
delivery ids, and optionally body digests, for a window; :class:`RateLimit` lets each
receiver act a bounded number of times per minute (429 with ``Retry-After`` beyond). Both
live in one API-server process; DAG run ids and asset-event extras derived from the
delivery id deduplicate across processes as well.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from airflow_flux_provider.receivers.errors import TooManyRequests

DEFAULT_WINDOW = 24 * 3600.0


@dataclass(frozen=True)
class GuardSettings:
    """``[flux] receiver_dedupe_window_seconds``, ``receiver_dedupe_bodies``, ``receiver_rate_limit``."""

    window_seconds: float = DEFAULT_WINDOW
    dedupe_bodies: bool = False  # identical bodies within the window count as one delivery
    rate_per_minute: int = 0  # accepted requests per receiver and minute; 0: no limit


class DeliveryLog:
    """Remembers recent deliveries so a repeated one triggers nothing twice.

    A delivery is known by its id (``X-GitHub-Delivery``…) and, with ``dedupe_bodies``, by
    the sha256 of its body. ``claim`` before acting, ``release`` if acting failed (so the
    sender's retry works). Bounded: the oldest entries are forgotten first.
    """

    def __init__(
        self, capacity: int = 10_000, ttl: float = DEFAULT_WINDOW, *, dedupe_bodies: bool = False
    ) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self.dedupe_bodies = dedupe_bodies
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, receiver: str, delivery_id: str, body: bytes | None) -> list[tuple[str, str]]:
        keys = [(receiver, f"id:{delivery_id}")] if delivery_id else []
        if self.dedupe_bodies and body is not None:
            keys.append((receiver, f"body:{hashlib.sha256(body).hexdigest()}"))
        return keys

    def claim(self, receiver: str, delivery_id: str, body: bytes | None = None) -> bool:
        """True if this delivery is new (and is now claimed); False for a repeat within the window."""
        keys, now = self._keys(receiver, delivery_id, body), time.monotonic()
        with self._lock:
            if any(now - self._seen.get(key, -math.inf) < self.ttl for key in keys):
                return False
            for key in keys:
                self._seen[key] = now
                self._seen.move_to_end(key)
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
            return True

    def release(self, receiver: str, delivery_id: str, body: bytes | None = None) -> None:
        with self._lock:
            for key in self._keys(receiver, delivery_id, body):
                self._seen.pop(key, None)


class RateLimit:
    """A token bucket per receiver: ``per_minute`` requests, refilled evenly; 0 means no limit."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # receiver -> (tokens, at)
        self._lock = threading.Lock()

    def admit(self, receiver: str) -> None:
        """Take one token for ``receiver`` or raise :class:`TooManyRequests` saying when to retry."""
        if self.per_minute <= 0:
            return
        rate, now = self.per_minute / 60.0, time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(receiver, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[receiver] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / rate)
                raise TooManyRequests(
                    f"more than {self.per_minute} requests a minute; retry in {wait} s",
                    obj=receiver,
                    retry_after=wait,
                )
            self._buckets[receiver] = (tokens - 1.0, now)
