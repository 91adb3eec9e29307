"""Latent-space walks: spherical interpolation between noise vectors."""

import jax
import jax.numpy as jnp


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation from ``a`` to ``b`` ``[..., D]`` at fractions ``t`` ``[T]`` -> ``[T, ..., D]``.

    Gaussian noise lives near a sphere; a straight line between two samples
    passes through its low-norm interior, where the generator never trained,
    so walks follow the great circle instead (White 2016).
    """
    a_unit = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
    b_unit = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
    omega = jnp.arccos(jnp.clip(jnp.sum(a_unit * b_unit, axis=-1, keepdims=True), -1.0, 1.0))  # [..., 1]
    t = t.reshape(-1, *([1] * a.ndim))  # [T, 1, ..., 1]
    so = jnp.sin(omega)
    safe = so > 1e-6  # nearly parallel vectors: fall back to a straight line
    wa = jnp.where(safe, jnp.sin((1.0 - t) * omega) / jnp.where(safe, so, 1.0), 1.0 - t)
    wb = jnp.where(safe, jnp.sin(t * omega) / jnp.where(safe, so, 1.0), t)
    return wa * a + wb * b


def latent_loop(anchors: jax.Array, frames_per_segment: int) -> jax.Array:
    """A closed walk through ``anchors`` ``[K, N, D]`` (K points for each of N walks) -> ``[K * F, N, D]``."""
    t = jnp.arange(frames_per_segment) / frames_per_segment
    segments = [slerp(anchors[i], anchors[(i + 1) % len(anchors)], t) for i in range(len(anchors))]
    return jnp.concatenate(segments)
