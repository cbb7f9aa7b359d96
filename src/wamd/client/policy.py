"""When to connect again: :class:`ReconnectPolicy` and the backoff it gives (sans-IO)."""

from __future__ import annotations

import random as _random
from dataclasses import dataclass

from wamd.errors import UsageError

__all__ = ["ReconnectPolicy"]


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Capped exponential backoff with jitter between reconnection attempts.

    Attempt ``n`` (1-based) waits ``min(max_delay, initial * factor ** (n - 1))``
    seconds, then a random share of up to ``jitter`` of it is taken off, so many
    clients restarted together do not reconnect in lockstep. ``max_attempts`` failed
    attempts in a row end the connection (``None``: never give up). A successful login
    resets the count. ``enabled=False`` never reconnects (515 after linking still does:
    it is part of linking, not a failure).
    """

    initial: float = 1.0
    max_delay: float = 60.0
    factor: float = 2.0
    jitter: float = 0.2
    max_attempts: int | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.initial < 0 or self.max_delay < 0:
            raise UsageError("ReconnectPolicy delays must not be negative")
        if self.factor < 1:
            raise UsageError(f"ReconnectPolicy.factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise UsageError(f"ReconnectPolicy.jitter must be within 0..1, got {self.jitter}")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise UsageError("ReconnectPolicy.max_attempts must not be negative")

    def delay(self, attempt: int, rng: _random.Random | None = None) -> float:
        """Seconds to wait before reconnection attempt ``attempt`` (1-based)."""
        if attempt < 1:
            raise UsageError(f"attempt counts from 1, got {attempt}")
        base = min(self.max_delay, self.initial * self.factor ** min(attempt - 1, 64))
        share = (rng or _random).random() * self.jitter
        return base * (1.0 - share)

    def gives_up(self, attempt: int) -> bool:
        """True when attempt ``attempt`` (1-based) should not be made."""
        if not self.enabled:
            return True
        return self.max_attempts is not None and attempt > self.max_attempts
