"""GAN losses on discriminator logits.

Logits, not probabilities, cross this interface: ``log_sigmoid`` keeps the
losses finite when the discriminator is confident.
"""

import jax
import jax.numpy as jnp


def bce_with_logits(logits: jax.Array, target: float) -> jax.Array:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against a constant 0/1 target."""
    return -jnp.mean(target * jax.nn.log_sigmoid(logits) + (1.0 - target) * jax.nn.log_sigmoid(-logits))


def disc_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """Discriminator BCE: real -> 1, fake -> 0, summed as in the TF tutorial (2 log 2 at zero logits)."""
    return bce_with_logits(real_logits, 1.0) + bce_with_logits(fake_logits, 0.0)


def gen_loss(fake_logits: jax.Array) -> jax.Array:
    """Non-saturating generator loss, -log D(G(z)) (Goodfellow et al. 2014, sec. 3)."""
    return bce_with_logits(fake_logits, 1.0)
