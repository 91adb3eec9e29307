import re
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import losses, models, steps
from jaxgan.state import create_state
from tests.helpers import assert_trees_equal, changed_leaves


def make_state(lr=1e-3):
    tx = optax.adam(lr, b1=0.5)
    return create_state(jax.random.key(0), models.Generator(), models.Discriminator(), tx, tx, 100, (28, 28, 1))


@pytest.fixture(scope="module")
def batch():
    return {"image": jax.random.uniform(jax.random.key(9), (8, 28, 28, 1), minval=-1, maxval=1)}


@pytest.fixture(scope="module")
def stepped(batch):
    state = make_state()
    new, metrics = jax.jit(steps.train_step)(state, batch)
    return state, new, metrics


def test_step_updates_params_stats_and_optimizers(stepped):
    old, new, _ = stepped
    assert int(new.step) == int(old.step) + 1
    for name in ("gen_params", "disc_params", "gen_batch_stats", "gen_opt_state", "disc_opt_state"):
        flags = changed_leaves(getattr(old, name), getattr(new, name))
        assert all(flags), f"{name}: {sum(flags)} of {len(flags)} leaves changed"


def test_step_keeps_the_base_key(stepped):
    old, new, _ = stepped
    np.testing.assert_array_equal(jax.random.key_data(old.key), jax.random.key_data(new.key))


def test_metrics_are_flat_scalars_in_range(stepped):
    _, _, metrics = stepped
    assert set(metrics) == {"disc/loss", "gen/loss", "disc/real_prob", "disc/fake_prob"}
    assert all(v.shape == () and np.isfinite(v) for v in metrics.values())
    assert 0 < metrics["disc/real_prob"] < 1 and 0 < metrics["disc/fake_prob"] < 1


def test_generator_gradient_does_not_touch_discriminator(batch):
    # With a zero learning rate for D only, D stays put and G still moves:
    # each network is updated from its own loss.
    g_tx, d_tx = optax.adam(1e-3), optax.sgd(0.0)
    state = create_state(jax.random.key(0), models.Generator(), models.Discriminator(), g_tx, d_tx, 100, (28, 28, 1))
    new, _ = jax.jit(steps.train_step)(state, batch)
    assert not any(changed_leaves(state.disc_params, new.disc_params))
    assert all(changed_leaves(state.gen_params, new.gen_params))


def test_step_is_deterministic_and_depends_on_step(batch):
    state = make_state()
    step = jax.jit(steps.train_step)
    a, ma = step(state, batch)
    b, mb = step(state, batch)
    assert not any(changed_leaves(a, b))
    c, mc = step(state.replace(step=jnp.int32(5)), batch)  # other noise and dropout
    assert float(mc["gen/loss"]) != float(ma["gen/loss"])


def test_linear_decay_is_one_until_the_last_stretch_then_falls_to_zero():
    factor = steps.linear_decay(total_steps=10, decay_steps=4)
    got = [float(factor(jnp.int32(s))) for s in range(12)]
    np.testing.assert_allclose(got, [1, 1, 1, 1, 1, 1, 1.0, 0.75, 0.5, 0.25, 0, 0])


def test_lr_scale_scales_both_networks_updates_and_nothing_else(batch):
    # Adam's update is -lr * m / (sqrt(v) + eps): scaling it by f is a step at learning rate f * lr.
    # Adam's moments and the BatchNorm statistics come from the gradients and batches, which it leaves alone.
    state = make_state()
    full, _ = jax.jit(steps.train_step)(state, batch)
    for f in (0.5, 0.0):
        new, _ = jax.jit(partial(steps.train_step, lr_scale=lambda step, f=f: jnp.float32(f)))(state, batch)
        for name in ("gen_params", "disc_params"):
            moved = jax.tree.map(lambda a, b: a - b, getattr(full, name), getattr(state, name))
            scaled = jax.tree.map(lambda a, b: a - b, getattr(new, name), getattr(state, name))
            for x, y in zip(jax.tree.leaves(moved), jax.tree.leaves(scaled), strict=True):
                np.testing.assert_allclose(y, f * x, rtol=1e-5, atol=1.2e-7)  # an ulp of 1 (BatchNorm scales)
        for name in ("gen_batch_stats", "gen_opt_state", "disc_opt_state"):
            assert_trees_equal(getattr(new, name), getattr(full, name))
    assert not any(changed_leaves(state.gen_params, new.gen_params))  # f = 0: the weights stay


def test_real_and_generated_batches_get_their_own_dropout_masks():
    # G's last kernel zeroed draws all-zero images (tanh(0) = 0), and the real
    # batch is all zeros too: D sees the same input twice, so only its dropout
    # masks can tell the two logits apart (D's first bias made non-zero, so
    # that there is something to drop).
    state = make_state()
    gen, disc = dict(state.gen_params), dict(state.disc_params)
    gen["ConvTranspose_2"] = {"kernel": jnp.zeros_like(gen["ConvTranspose_2"]["kernel"])}
    disc["Conv_0"] = {**disc["Conv_0"], "bias": jnp.linspace(-1.0, 1.0, 64)}
    state = state.replace(gen_params=gen, disc_params=disc)
    zeros = {"image": jnp.zeros((8, 28, 28, 1))}
    fake = steps.generate(state, jnp.ones((1, 100)))
    assert not np.any(fake)
    _, metrics = jax.jit(steps.train_step)(state, zeros)
    assert float(metrics["disc/real_prob"]) != float(metrics["disc/fake_prob"])
    without_dropout = state.replace(discriminator=models.Discriminator(dropout_rate=0.0))
    _, metrics = jax.jit(steps.train_step)(without_dropout, zeros)
    assert float(metrics["disc/real_prob"]) == float(metrics["disc/fake_prob"])


def test_generate_uses_running_statistics():
    state = make_state()
    z = jax.random.normal(jax.random.key(1), (4, 100))
    one_by_one = jnp.concatenate([steps.generate(state, z[i : i + 1]) for i in range(4)])
    np.testing.assert_allclose(steps.generate(state, z), one_by_one, atol=1e-5)


@pytest.mark.parametrize(
    "generator,shape", [(models.Generator(), (28, 28, 1)), (models.DCGANGenerator(width=8), (64, 64, 1))]
)
def test_standing_stats_are_the_sampled_generators_own_batch_moments(generator, shape):
    # BatchNorm momentum 0.99 (tutorial) and 0.9 (Radford): the moments come back exactly either way.
    tx = optax.adam(1e-3)
    state = create_state(jax.random.key(0), generator, models.Discriminator(), tx, tx, 100, shape, ema=True)
    ema = jax.tree.map(lambda p: p * 1.5, state.gen_ema_params)  # an average that differs from the live weights
    state = state.replace(gen_ema_params=ema)
    z = jax.random.normal(jax.random.key(1), (3, 16, 100))  # [K, B, noise_dim]
    stats = jax.jit(steps.standing_stats)(state, z)

    # One batch's statistics: inference with them is training-mode BatchNorm on that batch, with the EMA weights.
    one = steps.standing_stats(state, z[:1])
    train_mode, _ = generator.apply(
        {"params": ema, "batch_stats": state.gen_batch_stats}, z[0], train=True, mutable=["batch_stats"]
    )
    np.testing.assert_allclose(steps.generate(state, z[0], batch_stats=one), train_mode, atol=2e-5)
    assert np.abs(steps.generate(state, z[0]) - train_mode).max() > 0.1  # the live statistics do not match them
    # K batches: the mean of each batch's.
    each = [steps.standing_stats(state, z[k : k + 1]) for k in range(3)]
    mean = jax.tree.map(lambda *s: sum(s) / 3, *each)
    jax.tree.map(partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6), stats, mean)


def test_standing_stats_of_a_conditional_generator_follow_the_classes():
    tx = optax.adam(1e-3)
    gen = models.Generator(num_classes=10)
    disc = models.Discriminator(num_classes=10)
    state = create_state(jax.random.key(0), gen, disc, tx, tx, 100, (28, 28, 1), ema=True)
    z = jnp.broadcast_to(jax.random.normal(jax.random.key(1), (1, 8, 100)), (2, 8, 100))
    first = steps.standing_stats(state, z[:1], jnp.zeros((1, 8), jnp.int32))
    both = steps.standing_stats(state, z, jnp.stack([jnp.zeros(8, jnp.int32), jnp.full(8, 7, jnp.int32)]))
    assert any(np.abs(a - b).max() > 1e-3 for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(both), strict=True))


def test_average_generators_samples_the_mean_of_the_live_weights_without_ema(stepped):
    """Without a moving average the states' own weights are averaged; the last state is kept otherwise."""
    state, new, _ = stepped
    mean = steps.average_generators([state, new])
    for m, a, b in zip(*map(jax.tree.leaves, (mean.gen_ema_params, state.gen_params, new.gen_params)), strict=True):
        np.testing.assert_allclose(m, (a + b) / 2, rtol=1e-6)
    assert_trees_equal(mean.replace(gen_ema_params=None), new)
    z = jax.random.normal(jax.random.key(2), (4, 100))
    assert not np.allclose(steps.generate(mean, z), steps.generate(new, z))


def test_to_uint8_rounds_and_clips():
    out = steps.to_uint8(jnp.array([-1.5, -1.0, 0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(out, [0, 0, 128, 255, 255])


def test_disc_steps_update_the_generator_only_every_kth_step(batch):
    step = jax.jit(partial(steps.train_step, disc_steps=3))
    state = make_state()
    for s in range(3):
        new, _ = step(state, batch)
        for name in ("gen_params", "gen_batch_stats", "gen_opt_state"):
            assert any(changed_leaves(getattr(state, name), getattr(new, name))) == (s == 2), (s, name)
        assert all(changed_leaves(state.disc_params, new.disc_params))
        state = new


@pytest.mark.parametrize("name", ["hinge", "lsgan", "wgan-gp"])
def test_other_losses_train_both_networks(batch, name):
    loss = losses.LOSSES[name]
    state = make_state()
    new, metrics = jax.jit(partial(steps.train_step, loss=loss))(state, batch)
    assert all(changed_leaves(state.gen_params, new.gen_params))
    disc = dict(new.disc_params)
    # Shifting every logit by b changes neither E[D(G(z))] - E[D(x)] nor (inside the margins) the hinge loss:
    # there the logit bias's gradient is exactly 1 - 1 = 0.
    if name in ("hinge", "wgan-gp"):
        np.testing.assert_array_equal(disc.pop("Dense_0")["bias"], state.disc_params["Dense_0"]["bias"])
        assert all(changed_leaves(state.disc_params["Dense_0"]["kernel"], new.disc_params["Dense_0"]["kernel"]))
    assert all(changed_leaves({k: state.disc_params[k] for k in disc}, disc))
    assert np.isfinite(metrics["disc/loss"]) and np.isfinite(metrics["gen/loss"])
    if name == "wgan-gp":  # the penalty is part of the D loss: more than the bare Wasserstein term
        _, plain = jax.jit(partial(steps.train_step, loss=losses.GANLoss(loss.disc, loss.gen)))(state, batch)
        assert float(metrics["disc/loss"]) > float(plain["disc/loss"])
        np.testing.assert_allclose(metrics["gen/loss"], plain["gen/loss"], rtol=1e-6)


def test_a_conditional_step_trains_the_label_embeddings_and_generates_by_class(batch):
    tx = optax.adam(1e-3, b1=0.5)
    gen, disc = models.Generator(num_classes=10), models.Discriminator(num_classes=10)
    state = create_state(jax.random.key(0), gen, disc, tx, tx, 100, (28, 28, 1))
    labels = jnp.arange(8) % 10
    new, metrics = jax.jit(steps.train_step)(state, {**batch, "label": labels})
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert all(changed_leaves(state.gen_params["label_embed"], new.gen_params["label_embed"]))
    # D's first conv reads the image, then one plane per class: only the weights of the classes
    # in the batch get a gradient, and Adam moves nothing else.
    old, new_kernel = state.disc_params["Conv_0"]["kernel"], new.disc_params["Conv_0"]["kernel"]  # [5, 5, 11, 64]
    moved = np.any(np.asarray(old) != np.asarray(new_kernel), axis=(0, 1, 3))
    np.testing.assert_array_equal(moved, np.isin(np.arange(-1, 10), [-1, *labels.tolist()]))
    z = jnp.zeros((2, 100))
    a, b = steps.generate(new, z, jnp.array([1, 7])), steps.generate(new, z, jnp.array([1, 1]))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[1], b[1])


@pytest.mark.parametrize("arch", ["tutorial", "dcgan64"])
def test_a_scan_of_steps_keeps_every_convolution_in_xla_cpus_own_layout(arch):
    # Outside a loop XLA:CPU rewrites autodiff's convolution gradients into its
    # NHWC/HWIO layout; inside one it did not, and a scan of steps
    # (--steps-per-call) ran 14-42x slower a step. models.conv writes them out.
    tx = optax.adam(1e-4)
    gen, disc, shape = {
        "tutorial": (models.Generator(), models.Discriminator(), (28, 28, 1)),
        "dcgan64": (models.DCGANGenerator(width=8), models.DCGANDiscriminator(width=8), (64, 64, 1)),
    }[arch]
    state = create_state(jax.random.key(0), gen, disc, tx, tx, 100, shape)
    batch = {"image": jnp.zeros((4, *shape))}
    hlo = jax.jit(steps.repeat(steps.train_step, 2)).lower(state, batch).compile().as_text()
    layouts = re.findall(r" convolution\(.*?dim_labels=([^,]+),", hlo)
    assert len(layouts) >= 15 and set(layouts) == {"b01f_01io->b01f"}


def test_input_dilated_convolutions_run_in_pieces_of_the_batch_on_cpus():
    # XLA:CPU runs an input-dilated convolution (a stride-2 transposed conv, a strided conv's input
    # gradient) on about one core, slower per image the larger the batch; jaxgan.models cuts the batch
    # into at most 8 pieces (benchmarks/transposed_conv.py). The tutorial step has 6 such convolutions.
    hlo = jax.jit(steps.train_step).lower(make_state(), {"image": jnp.zeros((64, 28, 28, 1))}).compile().as_text()
    convs = re.findall(r"= \w+\[(\d+),[\d,]+\]\{[^}]*\} convolution\(.*?window=\{([^}]*)\}", hlo)
    batches = [int(batch) for batch, window in convs if "lhs_dilate" in window]
    assert len(batches) == 6 * 8 and set(batches) == {8}


def test_spectral_norms_power_iteration_carries_on_from_step_to_step(batch):
    """With D frozen (learning rate 0), each step's one power iteration starts from the vector the last
    step stored, so the stored sigma of D's first conv climbs to its largest singular value; a step
    that restarted from the initial vector would stay at the one-iteration estimate."""
    g_tx, d_tx = optax.adam(1e-3), optax.sgd(0.0)
    disc = models.Discriminator(spectral_norm=True)
    state = create_state(jax.random.key(0), models.Generator(), disc, g_tx, d_tx, 100, (28, 28, 1))
    kernel = np.asarray(state.disc_params["Conv_0"]["kernel"])
    largest = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    step = jax.jit(steps.train_step)
    sigmas = []
    for _ in range(40):
        state, _ = step(state, batch)
        sigmas.append(float(state.disc_batch_stats["SpectralNorm_0"]["Conv_0/kernel/sigma"]))
    assert sigmas[0] < 0.95 * largest
    assert sigmas[-1] == pytest.approx(largest, rel=5e-3)


def test_a_discriminator_without_spectral_norm_has_no_statistics(stepped):
    old, new, _ = stepped
    assert old.disc_batch_stats == {} and new.disc_batch_stats == {}
