"""A small Fashion-MNIST classifier whose features drive the fast metrics (FCD, KID, precision/recall).

Its weights ship inside the package (``jaxgan/assets/fashion_classifier.npz``,
written by ``experiments/train_classifier.py``), so these metrics need no
download and run in seconds on a CPU.
"""

from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxgan import models

WEIGHTS = Path(__file__).parent / "assets" / "fashion_classifier.npz"
FEATURE_DIM = 256


class Classifier(nn.Module):
    """``[B, 28, 28, 1]`` in [-1, 1] -> (logits ``[B, 10]``, penultimate features ``[B, 256]``)."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        for features in (32, 64, 128):
            x = nn.Conv(features, (3, 3), use_bias=False)(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
            x = nn.max_pool(x, (2, 2), (2, 2))  # 28 -> 14 -> 7 -> 3
        x = x.reshape(x.shape[0], -1)  # [B, 3 * 3 * 128]
        features = nn.relu(nn.Dense(FEATURE_DIM)(x))
        x = models.Dropout(0.3)(features, deterministic=not train)
        return nn.Dense(10)(x), features


def save_variables(variables: dict, path: str | Path) -> None:
    flat = traverse_util.flatten_dict(jax.device_get(variables), sep="/")
    np.savez(path, **{k: np.asarray(v) for k, v in flat.items()})


def load_variables(path: str | Path = WEIGHTS) -> dict:
    with np.load(path) as npz:
        return traverse_util.unflatten_dict({k: jnp.asarray(npz[k]) for k in npz.files}, sep="/")


class FeatureClassifier:
    """Jitted uint8 images -> (class probabilities ``[N, 10]``, features ``[N, 256]``), in batches."""

    def __init__(self, path: str | Path = WEIGHTS, batch_size: int = 1000):
        self.variables = load_variables(path)
        self.batch_size = batch_size
        model = Classifier()

        def run(variables, images):
            x = images.astype(jnp.float32) / 127.5 - 1.0
            if x.shape[1:3] != (28, 28):  # larger generators are judged at the classifier's size
                x = jax.image.resize(x, (x.shape[0], 28, 28, x.shape[-1]), "bilinear", antialias=True)
            logits, features = model.apply(variables, x)
            return jax.nn.softmax(logits), features

        self._run = jax.jit(run)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, feats = [], []
        for i in range(0, len(images), self.batch_size):
            p, f = self._run(self.variables, images[i : i + self.batch_size])
            probs.append(np.asarray(p))
            feats.append(np.asarray(f))
        return np.concatenate(probs), np.concatenate(feats)
