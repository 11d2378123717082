# SPDX-License-Identifier: Apache-2.0
"""grndpool for Python: the functions of ``secrets`` and a ``random.Random``
subclass, drawing from grndpool (per-thread slices of a locked, wipe-on-fork
slab of kernel-keyed ChaCha20).

    import grndpool
    grndpool.token_bytes(16)        # like secrets.token_bytes, 8x+ faster than os.urandom
    grndpool.token_hex(), grndpool.token_urlsafe(), grndpool.randbelow(6)
    rng = grndpool.SystemRandom()   # shuffle, sample, uniform, choices, ...

Nothing is buffered in Python: each call takes fresh bytes from grndpool, so
a process made by os.fork() or multiprocessing never repeats its parent's.
"""
import random as _random

from ._grndpool import describe, randbelow, randbits, stats, token_bytes, token_hex, token_urlsafe
from ._grndpool import random as _random_float

__all__ = [
    "token_bytes", "token_hex", "token_urlsafe", "randbelow", "randbits", "choice",
    "SystemRandom", "GrndpoolRandom", "describe", "stats",
]
DEFAULT_ENTROPY = 32


def choice(seq):
    """A random element of the non-empty sequence seq (secrets.choice)."""
    if not len(seq):
        raise IndexError("Cannot choose from an empty sequence")
    return seq[randbelow(len(seq))]


class GrndpoolRandom(_random.Random):
    """random.Random over grndpool, like random.SystemRandom: shuffle, sample,
    uniform, randint, choices and the distributions all work. It has no state:
    seed() does nothing, getstate() and setstate() raise NotImplementedError."""

    def random(self):
        """A float in [0.0, 1.0) with 53 random bits."""
        return _random_float()

    def getrandbits(self, k):
        """An int with k random bits."""
        return randbits(k)

    def randbytes(self, n):
        """n random bytes."""
        return token_bytes(n)

    def _randbelow(self, n):
        return randbelow(n)

    def seed(self, *args, **kwds):
        """Does nothing: the generator has no state to seed."""
        return None

    def _notimplemented(self, *args, **kwds):
        raise NotImplementedError("grndpool has no state to get or set")

    getstate = setstate = _notimplemented


SystemRandom = GrndpoolRandom
