import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import augment


def test_translation_moves_every_image_within_an_eighth_of_its_size():
    x = jnp.zeros((16, 16, 16, 1)).at[:, 8, 8, 0].set(1.0)  # one bright pixel in the middle
    y = augment.translation(jax.random.key(0), x)
    assert y.shape == x.shape
    for img in np.asarray(y[..., 0]):
        [(r, c)] = np.argwhere(img == 1.0)
        assert abs(r - 8) <= 2 and abs(c - 8) <= 2  # 16 * 0.125 = 2 pixels
    assert len({tuple(np.argwhere(img == 1.0)[0]) for img in np.asarray(y[..., 0])}) > 1  # shifts differ


def test_cutout_zeroes_at_most_a_half_size_square():
    x = jnp.ones((32, 8, 8, 1))
    y = np.asarray(augment.cutout(jax.random.key(1), x))
    zeros = (y == 0).sum(axis=(1, 2, 3))
    assert zeros.max() == 16 and zeros.min() > 0  # a 4x4 square, clipped at the borders
    assert set(np.unique(y)) <= {0.0, 1.0}


def test_color_shifts_brightness_and_contrast_per_image():
    x = jax.random.uniform(jax.random.key(2), (8, 4, 4, 1), minval=-1, maxval=1)
    y = augment.color(jax.random.key(3), x)
    assert y.shape == x.shape and not np.allclose(y, x)
    assert np.unique(np.round(np.asarray((y - x).mean(axis=(1, 2, 3))), 5)).size == 8


def test_diff_augment_is_seeded_and_differentiable():
    f = augment.diff_augment("color,translation,cutout")
    x = jax.random.uniform(jax.random.key(4), (4, 8, 8, 1), minval=-1, maxval=1)
    np.testing.assert_array_equal(f(jax.random.key(5), x), f(jax.random.key(5), x))
    assert not np.array_equal(f(jax.random.key(5), x), f(jax.random.key(6), x))
    grad = jax.grad(lambda x: jnp.sum(f(jax.random.key(5), x) ** 2))(x)
    assert np.abs(grad).sum() > 0


def test_unknown_transform_is_named():
    with pytest.raises(ValueError, match="unknown DiffAugment transform 'flip'"):
        augment.diff_augment("color,flip")
