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


def test_hinge_lsgan_and_wasserstein_closed_forms():
    real, fake = jnp.array([2.0, 0.5]), jnp.array([-3.0, 0.0])
    # hinge: mean(relu(1 - [2, .5])) + mean(relu(1 + [-3, 0])) = 0.25 + 0.5
    np.testing.assert_allclose(losses.hinge_disc_loss(real, fake), 0.75, rtol=1e-6)
    np.testing.assert_allclose(losses.hinge_gen_loss(fake), 1.5, rtol=1e-6)
    # least squares: ((1 + .25) / 2 + (9 + 0) / 2) / 2 and ((16 + 1) / 2) / 2
    np.testing.assert_allclose(losses.lsgan_disc_loss(real, fake), 0.5 * 0.625 + 0.5 * 4.5, rtol=1e-6)
    np.testing.assert_allclose(losses.lsgan_gen_loss(fake), 0.5 * 8.5, rtol=1e-6)
    np.testing.assert_allclose(losses.wasserstein_disc_loss(real, fake), -1.5 - 1.25, rtol=1e-6)
    np.testing.assert_allclose(losses.wasserstein_gen_loss(fake), 1.5, rtol=1e-6)


def test_gradient_penalty_of_a_linear_critic():
    # critic(x) = <w, x> has gradient w everywhere: the penalty is (||w|| - 1)^2 whatever the interpolate.
    import jax

    w = jax.random.normal(jax.random.key(0), (1, 4, 4, 1))
    critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))  # noqa: E731
    real, fake = jnp.ones((3, 4, 4, 1)), -jnp.ones((3, 4, 4, 1))
    expected = (float(jnp.linalg.norm(w)) - 1.0) ** 2
    np.testing.assert_allclose(losses.gradient_penalty(critic, real, fake, jax.random.key(1)), expected, rtol=1e-5)


def test_every_named_loss_is_a_pair_of_scalars():
    real, fake = jnp.array([1.0, -1.0]), jnp.array([0.5, -0.5])
    assert set(losses.LOSSES) == {"bce", "hinge", "lsgan", "wgan-gp"}
    for name, loss in losses.LOSSES.items():
        assert loss.disc(real, fake).shape == () and loss.gen(fake).shape == (), name
    assert losses.LOSSES["wgan-gp"].gp_weight == 10.0 and losses.LOSSES["bce"].gp_weight == 0.0
