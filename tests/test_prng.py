import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import prng


def test_threefry_matches_the_published_known_answers():
    """Random123's kat_vectors for threefry2x32_20 (Salmon et al. 2011): the hash itself, independent of JAX."""
    cases = [  # (counter, key, output)
        ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
        ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
        ((0x243F6A88, 0x85A308D3), (0x13198A2E, 0x03707344), (0xC4923A9C, 0x483DF7A0)),
    ]
    for counter, key, expected in cases:
        x0, x1 = (jnp.array([c], jnp.uint32) for c in counter)
        out = prng.threefry2x32(jnp.array(key, jnp.uint32), x0, x1)
        assert tuple(int(o[0]) for o in out) == expected


@pytest.mark.parametrize("p", [0.0, 1e-7, 0.3, 0.5, 0.7, 1 - 1e-7, 1.0])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (64, 7, 7, 128), (2, 3, 4, 5, 7)])
def test_bernoulli_draws_jaxs_values_bit_for_bit(p, shape):
    key = jax.random.fold_in(jax.random.key(3), 11)
    ours = jax.jit(prng.bernoulli, static_argnums=(1, 2))(key, p, shape)
    assert ours.dtype == jnp.bool_ and ours.shape == shape
    np.testing.assert_array_equal(ours, jax.random.bernoulli(key, p, shape))


@pytest.mark.parametrize("key", [jax.random.PRNGKey(4), jax.random.key(4, impl="rbg")], ids=["raw", "rbg"])
def test_bernoulli_takes_the_keys_jax_random_takes(key):
    np.testing.assert_array_equal(prng.bernoulli(key, 0.7, (300,)), jax.random.bernoulli(key, 0.7, (300,)))
