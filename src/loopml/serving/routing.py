"""Canary routing: which model answers a request.

With a request key (a customer id, a session id), the choice is a pure function of the key:
the same key always sees the same version while the weights stay the same. Without a key the
choice is random with the canary's weight.
"""

from __future__ import annotations

import hashlib
import random

from loopml.core.errors import InvalidArgumentError

CHAMPION = "champion"
CANARY = "canary"
SHADOW = "shadow"
FALLBACK = "fallback"
BATCH = "batch"


def key_share(key: str) -> float:
    """Where a request key falls in [0, 1), uniformly and stably (BLAKE2b of the key)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Router:
    """Sends ``percent`` % of the traffic to the canary.

    Args:
        percent: The canary's share, in [0, 100].
        seed: Seed of the random choice for requests without a key (tests fix it).
    """

    def __init__(self, percent: float, *, seed: int | None = None) -> None:
        if (
            isinstance(percent, bool)
            or not isinstance(percent, int | float)
            or not (0 <= percent <= 100)
        ):
            raise InvalidArgumentError(
                f"The canary weight must be a percentage in [0, 100]. Got {percent!r} instead; "
                "write e.g. 'credit-default@challenger:10'."
            )
        self.percent = float(percent)
        self._random = random.Random(seed)

    def route(self, key: str | None = None) -> str:
        """Return ``canary`` or ``champion`` for one request."""
        if self.percent <= 0:
            return CHAMPION
        share = key_share(key) if key is not None else self._random.random()
        return CANARY if share * 100 < self.percent else CHAMPION
