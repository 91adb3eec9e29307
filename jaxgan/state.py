"""The training state: one pytree holding everything a run needs to continue."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

Params = Any


@struct.dataclass
class GANState:
    """Both networks, their optimizers, the step counter and the base PRNG key.

    Every random choice of step ``s`` is drawn from ``fold_in(key, s)``, so the
    state alone determines the rest of the run (the basis of exact resume).
    """

    step: jax.Array  # [] int32, number of steps taken
    gen_params: Params
    gen_batch_stats: Params
    disc_params: Params
    disc_batch_stats: Params  # the spectral norms' power-iteration vectors (models.spectral); {} for most D
    gen_opt_state: optax.OptState
    disc_opt_state: optax.OptState
    key: jax.Array  # [] typed PRNG key
    generator: nn.Module = struct.field(pytree_node=False)
    discriminator: nn.Module = struct.field(pytree_node=False)
    gen_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    disc_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    noise_dim: int = struct.field(pytree_node=False)  # size of G's noise input (labels come on top)
    # An exponential moving average of gen_params (sampled from when present), or None.
    gen_ema_params: Params | None = None


def _labels(module: nn.Module) -> dict:
    """A dummy ``labels`` argument for initializing a class-conditional network, none otherwise."""
    return {"labels": jnp.zeros((1,), jnp.int32)} if getattr(module, "num_classes", 0) else {}


def create_state(
    key: jax.Array,
    generator: nn.Module,
    discriminator: nn.Module,
    gen_tx: optax.GradientTransformation,
    disc_tx: optax.GradientTransformation,
    noise_dim: int,
    image_shape: tuple[int, int, int],
    ema: bool = False,
) -> GANState:
    """Initializes parameters from ``key``; the state keeps an independent key for training.

    With ``ema`` the state also carries a moving average of the generator's
    parameters, starting from the initial ones (``train_step``'s ``ema_decay``).
    """

    def init(key):
        gen_key, disc_key, train_key = jax.random.split(key, 3)
        gen_vars = generator.init(gen_key, jnp.zeros((1, noise_dim)), train=False, **_labels(generator))
        disc_vars = discriminator.init(disc_key, jnp.zeros((1, *image_shape)), train=False, **_labels(discriminator))
        return GANState(
            step=jnp.zeros((), jnp.int32),
            gen_params=gen_vars["params"],
            gen_batch_stats=gen_vars.get("batch_stats", {}),
            disc_params=disc_vars["params"],
            disc_batch_stats=disc_vars.get("batch_stats", {}),
            gen_opt_state=gen_tx.init(gen_vars["params"]),
            disc_opt_state=disc_tx.init(disc_vars["params"]),
            key=train_key,
            generator=generator,
            discriminator=discriminator,
            gen_tx=gen_tx,
            disc_tx=disc_tx,
            noise_dim=noise_dim,
            gen_ema_params=jax.tree.map(jnp.copy, gen_vars["params"]) if ema else None,
        )

    # One compiled program: run eagerly, the initializers compile each of their ~80 operations
    # apart, which took 8 s of every start (train, generate, evaluate) on the 2-core CPU.
    return jax.jit(init)(key)
