"""Pure training and sampling steps. Callers jit them; nothing here is jitted."""

import jax
import jax.numpy as jnp
import optax

from jaxgan import losses
from jaxgan.state import GANState


def train_step(state: GANState, batch: dict) -> tuple[GANState, dict]:
    """One simultaneous update of G and D (the TF DCGAN tutorial's step).

    Both gradients are taken at the current parameters from one forward pass:
    the generated batch feeds the discriminator once, and a single VJP of the
    pair (disc loss, gen loss) yields each network's gradient.

    Args:
      state: the training state.
      batch: ``{"image": [B, H, W, C] float32 in [-1, 1]}``.
    Returns:
      The next state and a flat dict of scalar metrics.
    """
    real = batch["image"]
    key = jax.random.fold_in(state.key, state.step)
    noise_key, dropout_key = jax.random.split(key)
    noise_dim = state.gen_params["Dense_0"]["kernel"].shape[0]
    z = jax.random.normal(noise_key, (real.shape[0], noise_dim))  # [B, noise_dim]

    def both_losses(gen_params, disc_params):
        fake, gen_updates = state.generator.apply(
            {"params": gen_params, "batch_stats": state.gen_batch_stats},
            z,
            train=True,
            mutable=["batch_stats"],
        )
        d = lambda x: state.discriminator.apply(  # noqa: E731
            {"params": disc_params}, x, train=True, rngs={"dropout": dropout_key}
        )
        real_logits, fake_logits = d(real), d(fake)  # [B], [B]
        aux = (gen_updates["batch_stats"], real_logits, fake_logits)
        return (losses.disc_loss(real_logits, fake_logits), losses.gen_loss(fake_logits)), aux

    (d_loss, g_loss), vjp, (batch_stats, real_logits, fake_logits) = jax.vjp(
        both_losses, state.gen_params, state.disc_params, has_aux=True
    )
    one, zero = jnp.ones_like(d_loss), jnp.zeros_like(d_loss)
    _, disc_grads = vjp((one, zero))
    gen_grads, _ = vjp((zero, one))

    gen_updates, gen_opt_state = state.gen_tx.update(gen_grads, state.gen_opt_state, state.gen_params)
    disc_updates, disc_opt_state = state.disc_tx.update(disc_grads, state.disc_opt_state, state.disc_params)
    new_state = state.replace(
        step=state.step + 1,
        gen_params=optax.apply_updates(state.gen_params, gen_updates),
        gen_batch_stats=batch_stats,
        disc_params=optax.apply_updates(state.disc_params, disc_updates),
        gen_opt_state=gen_opt_state,
        disc_opt_state=disc_opt_state,
    )
    metrics = {
        "disc/loss": d_loss,
        "gen/loss": g_loss,
        "disc/real_prob": jnp.mean(jax.nn.sigmoid(real_logits)),  # mean D(x)
        "disc/fake_prob": jnp.mean(jax.nn.sigmoid(fake_logits)),  # mean D(G(z))
    }
    return new_state, metrics


def generate(state: GANState, z: jax.Array) -> jax.Array:
    """Images ``[N, H, W, C]`` in [-1, 1] from noise ``[N, noise_dim]``, BatchNorm in inference mode."""
    return state.generator.apply({"params": state.gen_params, "batch_stats": state.gen_batch_stats}, z, train=False)


def to_uint8(images: jax.Array) -> jax.Array:
    """[-1, 1] floats -> uint8 pixels, rounding to nearest."""
    return jnp.clip(jnp.round((images + 1.0) * 127.5), 0, 255).astype(jnp.uint8)
