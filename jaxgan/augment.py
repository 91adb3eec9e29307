"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every image the discriminator sees.

Real and generated images both pass through random colour, translation and
cutout transforms before D, in the losses of both networks; the transforms are
differentiable in the images, so G learns through them. This keeps D from
memorizing a small training set without leaking the augmentations into G's
samples. Images are ``[B, H, W, C]`` in [-1, 1]; each image draws its own
transform.
"""

import jax
import jax.numpy as jnp


def color(key: jax.Array, x: jax.Array) -> jax.Array:
    """Brightness (+U[-0.5, 0.5]), saturation (x U[0, 2] around the pixel's channel mean), contrast (x U[0.5, 1.5]
    around the image mean), as in the paper."""
    b = x.shape[0]
    kb, ks, kc = jax.random.split(key, 3)
    x = x + jax.random.uniform(kb, (b, 1, 1, 1)) - 0.5
    mean = x.mean(axis=3, keepdims=True)
    x = (x - mean) * jax.random.uniform(ks, (b, 1, 1, 1), maxval=2.0) + mean
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) * jax.random.uniform(kc, (b, 1, 1, 1), minval=0.5, maxval=1.5) + mean


def translation(key: jax.Array, x: jax.Array, ratio: float = 0.125) -> jax.Array:
    """Shifts each image by up to ``ratio`` of its size in each direction, filling with zeros."""
    b, h, w, _ = x.shape
    ph, pw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shifts = jax.random.randint(key, (b, 2), jnp.array([-ph, -pw]), jnp.array([ph, pw]) + 1)
    padded = jnp.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))

    def shift(img, s):  # img [H + 2ph, W + 2pw, C]
        return jax.lax.dynamic_slice(img, (ph - s[0], pw - s[1], 0), (h, w, img.shape[-1]))

    return jax.vmap(shift)(padded, shifts)


def cutout(key: jax.Array, x: jax.Array, ratio: float = 0.5) -> jax.Array:
    """Zeroes a square of ``ratio`` of the image size at a random centre of each image."""
    b, h, w, _ = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ky, kx = jax.random.split(key)
    top = jax.random.randint(ky, (b, 1, 1), 0, h + (1 - ch % 2)) - ch // 2
    left = jax.random.randint(kx, (b, 1, 1), 0, w + (1 - cw % 2)) - cw // 2
    rows, cols = jnp.arange(h)[None, :, None], jnp.arange(w)[None, None, :]
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)  # [B, H, W]
    return jnp.where(inside[..., None], 0.0, x)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(policy: str):
    """``(key, images) -> images`` applying the comma-separated transforms of ``policy`` in order."""
    names = [name for name in policy.split(",") if name]
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment transform {unknown[0]!r} (known: {', '.join(POLICIES)})")

    def augment(key: jax.Array, x: jax.Array) -> jax.Array:
        for name, k in zip(names, jax.random.split(key, len(names)), strict=True):
            x = POLICIES[name](k, x)
        return x

    return augment
