"""Trains the Fashion-MNIST classifier behind the fast metrics and writes its weights.

    python -m experiments.train_classifier --out jaxgan/assets/fashion_classifier.npz

Random horizontal flips; AdamW with cosine decay; reports test accuracy.
"""

import dataclasses
import os
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import cli
from jaxgan import classifier, data
from jaxgan.errors import UserError


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = cli.flag(0, "PRNG seed")
    epochs: int = cli.flag(11, "passes over the training set")
    batch_size: int = cli.flag(128, "images per step")
    learning_rate: float = cli.flag(3e-3, "peak Adam learning rate (cosine decay to 0)")
    out: str = cli.flag(str(classifier.WEIGHTS), "where to write the weights (npz)")
    min_accuracy: float = cli.flag(0.93, "refuse to write weights below this test accuracy")
    data_dir: str = cli.flag("", "tensorflow-datasets data dir")
    manual_dir: str = cli.flag(os.environ.get("JAXGAN_MANUAL_DIR", ""), "folder with the official files")


def augment(key, x):
    """Random horizontal flip per image (clothing is left-right symmetric enough). x: [B, 28, 28, 1]."""
    flip = jax.random.bernoulli(key, 0.5, (x.shape[0], 1, 1, 1))
    return jnp.where(flip, x[:, :, ::-1], x)


def train(cfg: Config) -> int:
    kw = {"data_dir": cfg.data_dir or None, "manual_dir": cfg.manual_dir or None}
    train_set, test_set = (data.load_split("fashion_mnist", s, **kw) for s in ("train", "test"))
    images, labels = jax.device_put(train_set["image"]), jax.device_put(train_set["label"])
    steps_per_epoch = len(train_set["label"]) // cfg.batch_size
    model = classifier.Classifier()
    key = jax.random.key(cfg.seed)
    variables = model.init(key, jnp.zeros((1, 28, 28, 1)))
    tx = optax.adamw(optax.cosine_decay_schedule(cfg.learning_rate, cfg.epochs * steps_per_epoch), weight_decay=1e-4)
    params, stats, opt_state = variables["params"], variables["batch_stats"], None
    opt_state = tx.init(params)

    @partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(params, stats, opt_state, perm, i, key):
        idx = jax.lax.dynamic_slice_in_dim(perm, i * cfg.batch_size, cfg.batch_size)
        aug_key, dropout_key = jax.random.split(key)
        x = augment(aug_key, data.to_model_range(images[idx]))

        def loss_fn(params):
            (logits, _), updates = model.apply(
                {"params": params, "batch_stats": stats}, x, train=True,
                rngs={"dropout": dropout_key}, mutable=["batch_stats"],
            )  # fmt: skip
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels[idx]).mean(), updates

        (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        upd, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, upd), updates["batch_stats"], opt_state, loss

    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        perm = data.epoch_permutation(jax.random.fold_in(key, 1), epoch, len(train_set["label"]))
        for i in range(steps_per_epoch):
            step_key = jax.random.fold_in(key, epoch * steps_per_epoch + i + 2)
            params, stats, opt_state, loss = step(params, stats, opt_state, perm, i, step_key)
        variables = {"params": params, "batch_stats": stats}
        accuracy = test_accuracy(variables, test_set)
        print(
            f"epoch {epoch + 1}: loss {float(loss):.4f} test accuracy {accuracy:.4f} ({time.perf_counter() - t0:.0f} s)"
        )
    if accuracy < cfg.min_accuracy:
        raise UserError(f"test accuracy {accuracy:.4f} is below --min-accuracy {cfg.min_accuracy}; weights not written")
    classifier.save_variables(variables, cfg.out)
    print(f"wrote {cfg.out} (test accuracy {accuracy:.4f})")
    return 0


def test_accuracy(variables, test_set) -> float:
    apply = jax.jit(lambda v, x: classifier.Classifier().apply(v, data.to_model_range(x))[0].argmax(-1))
    preds = np.concatenate(
        [np.asarray(apply(variables, test_set["image"][i : i + 1000])) for i in range(0, 10000, 1000)]
    )
    return float((preds == test_set["label"]).mean())


def main(argv: list[str] | None = None) -> int:
    return cli.run(lambda: train(cli.parse(Config, argv, __doc__)))


if __name__ == "__main__":
    sys.exit(main())
