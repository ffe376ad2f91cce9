"""What a receiver lets through beyond a valid proof: no replays, no floods.

A verified request can still be sent again (a retry, or a captured delivery replayed, maybe
under a fresh delivery id) or arrive in a flood that would start a DAG run each time. The
decisions here read a :class:`Footprint`: what the Airflow database holds of the receiver's
recent work (its DAG runs and asset events carry the delivery in their conf / extra), so
every API server worker and replica decides from the same record, not from its own memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from airflow_flux_provider.receivers.errors import TooManyRequests

DEFAULT_WINDOW = 24 * 3600.0
RATE_PERIOD = 60.0


@dataclass(frozen=True)
class GuardSettings:
    """``[flux] receiver_dedupe_window_seconds``, ``receiver_dedupe_bodies``, ``receiver_rate_limit``."""

    window_seconds: float = DEFAULT_WINDOW
    dedupe_bodies: bool = False  # identical bodies within the window count as one delivery
    rate_per_minute: int = 0  # deliveries acted on per receiver and minute; 0: no limit


@dataclass(frozen=True)
class Footprint:
    """A receiver's recent work as any worker recorded it, seen from one request.

    ``known``: this delivery id was acted on within the window (the sender retries).
    ``replayed``: with ``dedupe_bodies``, this body was acted on under another delivery.
    ``ages``: seconds since each distinct delivery acted on in the last minute.
    """

    known: bool
    replayed: bool = False
    ages: Sequence[float] = ()


def admit(receiver: str, footprint: Footprint, per_minute: int) -> None:
    """Raise :class:`TooManyRequests` (with when to retry) if the last minute's budget is spent."""
    if per_minute <= 0 or len(footprint.ages) < per_minute:
        return
    # the budget frees when the delivery that makes it full leaves the 60 s window
    blocking = sorted(footprint.ages, reverse=True)[len(footprint.ages) - per_minute]
    wait = max(1, math.ceil(RATE_PERIOD - blocking))
    raise TooManyRequests(
        f"more than {per_minute} requests a minute; retry in {wait} s", obj=receiver, retry_after=wait
    )
