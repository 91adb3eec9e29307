"""GAN losses on discriminator logits.

Logits, not probabilities, cross this interface: ``log_sigmoid`` keeps the
losses finite when the discriminator is confident. ``LOSSES`` names the
objectives the experiments offer (``--loss``); a new one is a ``GANLoss`` of
two functions.
"""

import dataclasses
from collections.abc import Callable

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


# Other GAN objectives. Each pair (disc, gen) takes logits (the discriminator's
# raw outputs, "critic values" for Wasserstein) and returns a scalar to minimize.


def hinge_disc_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): mean relu(1 - D(x)) + mean relu(1 + D(G(z)))."""
    return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def hinge_gen_loss(fake_logits: jax.Array) -> jax.Array:
    return -jnp.mean(fake_logits)


def lsgan_disc_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """Least squares (Mao et al. 2017, a=0, b=c=1): (D(x) - 1)^2 / 2 + D(G(z))^2 / 2."""
    return 0.5 * jnp.mean((real_logits - 1.0) ** 2) + 0.5 * jnp.mean(fake_logits**2)


def lsgan_gen_loss(fake_logits: jax.Array) -> jax.Array:
    return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


def wasserstein_disc_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """The critic's side of the Wasserstein loss (Arjovsky et al. 2017): E[D(G(z))] - E[D(x)]."""
    return jnp.mean(fake_logits) - jnp.mean(real_logits)


def wasserstein_gen_loss(fake_logits: jax.Array) -> jax.Array:
    return -jnp.mean(fake_logits)


def gradient_penalty(critic, real: jax.Array, fake: jax.Array, key: jax.Array) -> jax.Array:
    """WGAN-GP's penalty (Gulrajani et al. 2017): E[(||grad_x critic(x_hat)||_2 - 1)^2] on random
    interpolates x_hat between real and generated images ``[B, H, W, C]``.

    ``critic`` maps images to per-image values ``[B]``; images are independent
    (no BatchNorm), so the gradient of the sum gives each image's own gradient.
    """
    eps = jax.random.uniform(key, (real.shape[0], 1, 1, 1))
    x_hat = eps * real + (1.0 - eps) * fake
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(x_hat)  # [B, H, W, C]
    norms = jnp.sqrt(jnp.sum(grads**2, axis=(1, 2, 3)) + 1e-12)
    return jnp.mean((norms - 1.0) ** 2)


@dataclasses.dataclass(frozen=True)
class GANLoss:
    """A GAN objective: the two losses on logits, and the weight of WGAN-GP's gradient penalty (0: none)."""

    disc: Callable[[jax.Array, jax.Array], jax.Array]
    gen: Callable[[jax.Array], jax.Array]
    gp_weight: float = 0.0


LOSSES = {
    "bce": GANLoss(disc_loss, gen_loss),
    "hinge": GANLoss(hinge_disc_loss, hinge_gen_loss),
    "lsgan": GANLoss(lsgan_disc_loss, lsgan_gen_loss),
    "wgan-gp": GANLoss(wasserstein_disc_loss, wasserstein_gen_loss, gp_weight=10.0),
}
