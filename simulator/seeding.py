"""One root seed, many named random streams.

Each part of a run (arrivals, clicks, a policy's exploration, ...) draws from its own
`numpy.random.Generator`, derived from the root seed and the stream's *name*. Changing how many
numbers one part draws (say, a different policy) therefore never changes what another part
sees: the same users arrive at the same times under every policy (common random numbers).
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """Return the generator for stream `name` of root `seed`.

    The name is hashed with CRC-32 (stable across Python processes, unlike `hash`) and mixed
    into the `SeedSequence` entropy, so streams are independent and reproducible everywhere.
    """
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), key])))


class Streams:
    """Lazily created named streams of one root seed; asking twice returns the same generator."""

    def __init__(self, seed: int) -> None:
        stream(seed, "validate")
        self.seed = int(seed)
        self._generators: dict[str, np.random.Generator] = {}

    def __getitem__(self, name: str) -> np.random.Generator:
        if name not in self._generators:
            self._generators[name] = stream(self.seed, name)
        return self._generators[name]
