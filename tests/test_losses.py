import math

import jax.numpy as jnp
import numpy as np

from jaxgan import losses


def test_disc_loss_is_two_log_two_at_zero_logits():
    zeros = jnp.zeros(8)
    np.testing.assert_allclose(losses.disc_loss(zeros, zeros), 2 * math.log(2), rtol=1e-6)


def test_gen_loss_is_log_two_at_zero_logits():
    np.testing.assert_allclose(losses.gen_loss(jnp.zeros(8)), math.log(2), rtol=1e-6)


def test_bce_closed_form():
    logits = jnp.array([2.0, -1.0])
    p = 1 / (1 + np.exp(-np.array([2.0, -1.0])))
    np.testing.assert_allclose(losses.bce_with_logits(logits, 1.0), -np.log(p).mean(), rtol=1e-6)
    np.testing.assert_allclose(losses.bce_with_logits(logits, 0.0), -np.log(1 - p).mean(), rtol=1e-6)


def test_losses_stay_finite_for_confident_discriminator():
    big = jnp.array([1e4, -1e4])
    assert np.isfinite(losses.disc_loss(big, -big))
    np.testing.assert_allclose(losses.gen_loss(jnp.array([-100.0])), 100.0, rtol=1e-6)


def test_nonsaturating_generator_gradient():
    # -log D(G(z)) keeps a gradient of about -1 where D rejects fakes confidently;
    # the saturating log(1 - D) would give about 0 there.
    import jax

    grad = jax.grad(lambda x: losses.gen_loss(x[None]))(jnp.array(-10.0))
    np.testing.assert_allclose(grad, -1.0, atol=1e-4)
