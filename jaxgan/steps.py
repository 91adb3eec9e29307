"""Pure training and sampling steps. Callers jit them; nothing here is jitted."""

from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import optax

from jaxgan import losses
from jaxgan.state import GANState


def train_step(
    state: GANState,
    batch: dict,
    loss: losses.GANLoss = losses.LOSSES["bce"],
    disc_steps: int = 1,
    ema_decay: float = 0.999,
    augment: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    lr_scale: Callable[[jax.Array], jax.Array] | None = None,
) -> tuple[GANState, dict]:
    """One simultaneous update of G and D (the TF DCGAN tutorial's step).

    Both gradients are taken at the current parameters from one forward pass:
    the generated batch feeds the discriminator once, and a single VJP of the
    pair (disc loss, gen loss) yields each network's gradient.

    Args:
      state: the training state.
      batch: ``{"image": [B, H, W, C] float32 in [-1, 1]}``, plus ``"label": [B]``
        int for class-conditional networks: G draws its batch for the same labels,
        so D sees real and generated images of the same classes.
      loss: the objective (``losses.LOSSES``); bind it with ``functools.partial`` before jitting.
      disc_steps: D updates per G update. G (parameters, BatchNorm statistics,
        Adam state) changes only on steps ``s`` with ``s % disc_steps ==
        disc_steps - 1``, so the schedule is a function of the step, like
        everything else, and a resumed run keeps it.
      ema_decay: when the state carries ``gen_ema_params``, they move to
        ``ema_decay * ema + (1 - ema_decay) * gen_params`` after each step.
      augment: ``(key, images) -> images``, applied to the real and the
        generated batch (independently drawn) wherever D sees them, e.g.
        ``augment.diff_augment("color,translation,cutout")``.
      lr_scale: ``step -> factor`` multiplying both networks' optimizer updates: with
        Adam, exactly a learning-rate schedule (e.g. :func:`linear_decay`). It reads
        ``state.step`` instead of living in optax, so the optimizer state has the same
        structure with and without it, and a finished run's checkpoint can be
        continued with a decay.
    Returns:
      The next state and a flat dict of scalar metrics.
    """
    real = batch["image"]
    key = jax.random.fold_in(state.key, state.step)
    noise_key, dropout_key = jax.random.split(key)
    gp_key, real_aug_key, fake_aug_key = (jax.random.fold_in(key, i) for i in (2, 3, 4))
    z = jax.random.normal(noise_key, (real.shape[0], state.noise_dim))  # [B, noise_dim]
    cond = {"labels": batch["label"]} if getattr(state.generator, "num_classes", 0) else {}

    def both_losses(gen_params, disc_params):
        fake, gen_updates = state.generator.apply(
            {"params": gen_params, "batch_stats": state.gen_batch_stats},
            z,
            train=True,
            mutable=["batch_stats"],
            **cond,
        )

        def d(x, call):
            # Each batch D sees gets its own dropout masks, as separate Keras calls
            # would: real image i and generated image i must not share a mask.
            rngs = {"dropout": jax.random.fold_in(dropout_key, call)}
            # Every call starts from the state's statistics (spectral norms' vectors; {} for most D), so D
            # judges real and generated images by the same normalized weights; all calls update them alike.
            variables = {"params": disc_params, "batch_stats": state.disc_batch_stats}
            logits, updates = state.discriminator.apply(
                variables, x, train=True, rngs=rngs, mutable=["batch_stats"], **cond
            )
            return logits, updates.get("batch_stats", {})

        seen_real, seen_fake = (
            (real, fake) if augment is None else (augment(real_aug_key, real), augment(fake_aug_key, fake))
        )
        (real_logits, disc_stats), (fake_logits, _) = d(seen_real, 0), d(seen_fake, 1)  # [B], [B]
        d_loss = loss.disc(real_logits, fake_logits)
        if loss.gp_weight:
            critic = lambda x: d(x, call=2)[0]  # noqa: E731
            d_loss += loss.gp_weight * losses.gradient_penalty(critic, seen_real, seen_fake, gp_key)
        aux = (gen_updates["batch_stats"], disc_stats, real_logits, fake_logits)
        return (d_loss, loss.gen(fake_logits)), aux

    (d_loss, g_loss), vjp, (batch_stats, disc_stats, real_logits, fake_logits) = jax.vjp(
        both_losses, state.gen_params, state.disc_params, has_aux=True
    )
    one, zero = jnp.ones_like(d_loss), jnp.zeros_like(d_loss)
    _, disc_grads = vjp((one, zero))
    gen_grads, _ = vjp((zero, one))

    gen_updates, gen_opt_state = state.gen_tx.update(gen_grads, state.gen_opt_state, state.gen_params)
    disc_updates, disc_opt_state = state.disc_tx.update(disc_grads, state.disc_opt_state, state.disc_params)
    if lr_scale is not None:
        factor = lr_scale(state.step)
        gen_updates, disc_updates = jax.tree.map(lambda u: factor * u, (gen_updates, disc_updates))
    gen_fields = {
        "gen_params": optax.apply_updates(state.gen_params, gen_updates),
        "gen_batch_stats": batch_stats,
        "gen_opt_state": gen_opt_state,
    }
    if disc_steps > 1:
        update_gen = state.step % disc_steps == disc_steps - 1
        old = {name: getattr(state, name) for name in gen_fields}
        gen_fields = jax.tree.map(lambda new, old: jnp.where(update_gen, new, old), gen_fields, old)
    if state.gen_ema_params is not None:
        gen_fields["gen_ema_params"] = jax.tree.map(
            lambda ema, p: ema_decay * ema + (1.0 - ema_decay) * p, state.gen_ema_params, gen_fields["gen_params"]
        )
    new_state = state.replace(
        step=state.step + 1,
        disc_params=optax.apply_updates(state.disc_params, disc_updates),
        disc_batch_stats=disc_stats,
        disc_opt_state=disc_opt_state,
        **gen_fields,
    )
    metrics = {
        "disc/loss": d_loss,
        "gen/loss": g_loss,
        "disc/real_prob": jnp.mean(jax.nn.sigmoid(real_logits)),  # mean D(x)
        "disc/fake_prob": jnp.mean(jax.nn.sigmoid(fake_logits)),  # mean D(G(z))
    }
    return new_state, metrics


def linear_decay(total_steps: int, decay_steps: int) -> Callable[[jax.Array], jax.Array]:
    """``step -> factor``: 1 up to step ``total_steps - decay_steps``, then falling linearly to
    ``1 / decay_steps`` at the last step, ``total_steps - 1`` (``train_step``'s ``lr_scale``).

    A constant learning rate leaves the weights jittering about where the EMA can
    only average them; annealing it to zero over the last stretch is the usual way
    to end GAN training runs (Miyato et al. 2018, SN-GAN).
    """

    def factor(step: jax.Array) -> jax.Array:
        return jnp.clip((total_steps - step) / decay_steps, 0.0, 1.0)

    return factor


def repeat(step: Callable, num_steps: int) -> Callable:
    """``(state, *args) -> (state, metrics)``: ``step`` applied ``num_steps`` times as one ``lax.scan``.

    Jitted, this is one program per ``num_steps`` steps: on an accelerator the
    host launches it once instead of once a step, which for these small
    networks can cost more than the step itself. ``args`` are the same for
    every step (the step reads its batch position off ``state.step``). Metrics
    come back stacked, ``[num_steps]`` per name.

    One step is the step itself, not a scan of one: a scan's result differs
    from the plain step's in the last bits. (On CPUs the networks' convolutions
    need :func:`jaxgan.models.conv`'s gradients to run as fast in a scan as in a
    plain step.)
    """

    def run(state, *args):
        if num_steps == 1:
            state, metrics = step(state, *args)
            return state, jax.tree.map(lambda m: m[None], metrics)
        return jax.lax.scan(lambda s, _: step(s, *args), state, length=num_steps)

    return run


def _sampled_params(state: GANState):
    """The generator parameters samples come from: their moving average when the state has one."""
    return state.gen_params if state.gen_ema_params is None else state.gen_ema_params


def generate(state: GANState, z: jax.Array, labels: jax.Array | None = None, batch_stats=None) -> jax.Array:
    """Images ``[N, H, W, C]`` in [-1, 1] from noise ``[N, noise_dim]``, BatchNorm in inference mode.

    Uses the moving average of the generator's parameters when the state has one,
    the parameters themselves otherwise. BatchNorm normalizes with ``batch_stats``
    (from :func:`standing_stats`) when given, else with the live generator's
    running statistics. ``labels [N]``: the classes to draw, for a class-conditional generator.
    """
    stats = state.gen_batch_stats if batch_stats is None else batch_stats
    variables = {"params": _sampled_params(state), "batch_stats": stats}
    cond = {} if labels is None else {"labels": labels}
    return state.generator.apply(variables, z, train=False, **cond)


def standing_stats(state: GANState, z: jax.Array, labels: jax.Array | None = None):
    """BatchNorm statistics of the sampled generator's own batches ``z [K, B, noise_dim]`` (classes
    ``labels [K, B]``): each layer's batch mean and variance, averaged over the K batches.

    Why: the running statistics a state carries follow the *live* generator's
    activations, and lag them by BatchNorm's momentum. Sampling the moving
    average of the weights (``--ema-decay``) with them normalizes its layers by
    another network's moments. Measuring the average's own, as BigGAN's
    "standing statistics" do (Brock et al. 2019), fixes that: Inception FID 19.4
    -> 18.6 for the best CPU run's EMA generator (BENCHMARKS.md, "Standing
    statistics"). Pass the result to :func:`generate`.

    Flax's BatchNorm hands back ``momentum * old + (1 - momentum) * moments``;
    from ``old = 0`` and the derivative in ``old`` (the momentum) this recovers
    the moments for any momentum.
    """
    params = _sampled_params(state)
    zeros = jax.tree.map(jnp.zeros_like, state.gen_batch_stats)
    ones = jax.tree.map(jnp.ones_like, zeros)

    def moments(batch):
        z, labels = batch
        cond = {} if labels is None else {"labels": labels}

        def updated(old):
            variables = {"params": params, "batch_stats": old}
            _, new = state.generator.apply(variables, z, train=True, mutable=["batch_stats"], **cond)
            return new["batch_stats"]

        new, momentum = jax.jvp(updated, (zeros,), (ones,))
        return jax.tree.map(lambda n, m: n / (1.0 - m), new, momentum)

    per_batch = jax.lax.map(moments, (z, labels))  # each leaf [K, features]
    return jax.tree.map(lambda s: jnp.mean(s, axis=0), per_batch)


def average_generators(states: Iterable[GANState]) -> GANState:
    """The last of ``states``, set to sample the mean of their sampled generators' parameters.

    Why: the moving average of ``--ema-decay`` spans about ``1 / (1 - decay)``
    steps, and a GAN's generator may keep circling around a better one for
    longer than that. A uniform mean over checkpoints epochs apart (Yazıcı et
    al. 2019, "The Unusual Effectiveness of Averaging in GAN Training") widens
    the window after training, without retraining. Measured on the best CPU
    run at 180 epochs, where it had stopped improving: FCD 3-4% lower for means
    over 5 to 60 epochs, the Inception FID unchanged (BENCHMARKS.md, "Averaging
    checkpoints").
    The mean's BatchNorm layers need statistics of their own: sample it with
    :func:`standing_stats`. The mean replaces the state's moving average (or
    becomes one where it had none), so :func:`generate` samples it. ``states``
    may be a generator: one state at a time is held, beside the running sum.
    """
    total, count = None, 0
    for state in states:
        params = _sampled_params(state)
        total = params if total is None else jax.tree.map(jnp.add, total, params)
        count += 1
    return state.replace(gen_ema_params=jax.tree.map(lambda t: t / count, total))


def to_uint8(images: jax.Array) -> jax.Array:
    """[-1, 1] floats -> uint8 pixels, rounding to nearest."""
    return jnp.clip(jnp.round((images + 1.0) * 127.5), 0, 255).astype(jnp.uint8)
