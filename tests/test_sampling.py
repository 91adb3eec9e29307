import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import sampling


def test_slerp_ends_at_its_endpoints_and_keeps_the_norm_on_the_sphere():
    a, b = jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]])
    path = sampling.slerp(a, b, jnp.array([0.0, 0.5, 1.0]))  # [3, 1, 2]
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[2], b, atol=1e-6)
    np.testing.assert_allclose(path[1], [[np.sqrt(0.5), np.sqrt(0.5)]], atol=1e-6)  # a straight line: norm 0.71
    np.testing.assert_allclose(jnp.linalg.norm(path, axis=-1), 1.0, atol=1e-6)


def test_slerp_of_parallel_vectors_is_finite():
    a = jnp.array([[2.0, 0.0]])
    path = sampling.slerp(a, 3 * a, jnp.array([0.0, 0.5]))
    np.testing.assert_allclose(path[:, 0], [[2.0, 0.0], [4.0, 0.0]], atol=1e-6)


def test_latent_loop_passes_every_anchor_and_closes():
    anchors = jax.random.normal(jax.random.key(0), (3, 5, 100))  # 3 points for each of 5 walks
    walk = sampling.latent_loop(anchors, 4)
    assert walk.shape == (12, 5, 100)
    for i in range(3):
        np.testing.assert_allclose(walk[4 * i], anchors[i], atol=1e-5)
    step = jnp.linalg.norm(walk[1:] - walk[:-1], axis=-1).max()
    assert jnp.linalg.norm(walk[-1] - anchors[0], axis=-1).max() <= 1.5 * step  # the last frame leads back
