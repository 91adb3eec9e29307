"""``jax.random.bernoulli``, bit for bit, in a form XLA:CPU runs about 10x faster.

JAX lowers its Threefry-2x32 hash for CPUs as a loop over the hash's five
groups of rounds, so every group reads and writes the whole array: one step's
dropout masks for D (2.4 M draws at batch 64) took 10-12 ms that way, and
1.0-1.2 ms with the rounds unrolled into one elementwise fusion and the
comparison done on the integer bits (``benchmarks/step_variants.py``).
:func:`bernoulli` is that form. It draws exactly the booleans
``jax.random.bernoulli`` draws for the same key (JAX's default
``jax_threefry_partitionable`` counters; a test compares the two), so the
training runs stay what they were.

Threefry-2x32 with 20 rounds is Salmon et al., "Parallel random numbers: as
easy as 1, 2, 3" (SC 2011); the rotation constants and the key-schedule parity
below are the paper's.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA
_MANTISSA_BITS = 23  # float32: uniform draws are (bits >> 9) * 2**-23


def _rotate_left(x: jax.Array, d: int) -> jax.Array:
    return lax.shift_left(x, jnp.uint32(d)) | lax.shift_right_logical(x, jnp.uint32(32 - d))


def threefry2x32(key: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 hash of counter pairs ``(x0, x1)`` (uint32, same shape) under ``key`` (uint32 ``[2]``)."""
    ks = (key[0], key[1], key[0] ^ key[1] ^ jnp.uint32(_PARITY))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for group in range(5):
        for d in _ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotate_left(x1, d) ^ x0
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + jnp.uint32(group + 1)
    return x0, x1


def bernoulli(key: jax.Array, p: float, shape: tuple[int, ...]) -> jax.Array:
    """Booleans ``shape``, True with probability ``p``: ``jax.random.bernoulli(key, p, shape)``.

    For a Threefry key (JAX's default) the draw is computed here, unrolled;
    any other key implementation goes to ``jax.random.bernoulli``.
    """
    if not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)  # a raw uint32 key, as jax.random takes them
    size = math.prod(shape)
    if str(jax.random.key_impl(key)) != "threefry2x32" or size >= 2**32:
        return jax.random.bernoulli(key, p, shape)
    # JAX's partitionable counters: the flat index as a (high, low) uint32 pair; high is 0 below 2**32. Built
    # from one iota per axis, so that XLA can split it along a sharded batch axis.
    low = jnp.zeros(shape, jnp.uint32)
    for axis in range(len(shape)):
        low = low + lax.broadcasted_iota(jnp.uint32, shape, axis) * jnp.uint32(math.prod(shape[axis + 1 :]))
    h0, h1 = threefry2x32(jax.random.key_data(key), jnp.zeros_like(low), low)
    # uniform() keeps the top 23 bits m of h0 ^ h1 as the float32 m * 2**-23 in [0, 1), and m * 2**-23 < p
    # exactly when m < ceil(p * 2**23), p rounded to float32 as bernoulli compares it.
    threshold = min(max(math.ceil(float(np.float32(p)) * 2**_MANTISSA_BITS), 0), 2**_MANTISSA_BITS)
    return lax.shift_right_logical(h0 ^ h1, jnp.uint32(32 - _MANTISSA_BITS)) < jnp.uint32(threshold)
