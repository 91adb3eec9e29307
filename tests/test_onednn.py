"""oneDNN's convolutions (``--convolutions onednn``) against XLA's: values, gradients of every order, a step."""

import importlib.metadata
import os
import platform
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgan import losses, models, onednn, steps, xla_flags
from jaxgan.errors import UserError
from jaxgan.state import create_state
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not onednn.supported(), reason="oneDNN's pip packages are for x86-64 Linux")
TOLERANCE = {jnp.float32: 1e-5, jnp.bfloat16: 2e-2}  # relative to the largest value; bfloat16 keeps 8 bits


def both(fn, *args):
    """``jit(fn)(*args)`` with oneDNN's convolutions and with XLA's; the first program must call oneDNN."""
    with onednn.use():
        lowered = jax.jit(lambda *a: fn(*a)).lower(*args)  # a new function each time: traced afresh
        assert onednn.TARGET in lowered.as_text()
        ours = lowered.compile()(*args)
    return ours, jax.jit(lambda *a: fn(*a))(*args)


def assert_close(ours, xla, dtype):
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(xla), strict=True):
        a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
        assert a.shape == b.shape
        assert np.abs(a - b).max() <= TOLERANCE[dtype] * np.abs(b).max()


def operands(x_shape, kernel_shape, dtype):
    x = jax.random.normal(jax.random.key(0), x_shape)
    kernel = jax.random.normal(jax.random.key(1), kernel_shape) / np.sqrt(np.prod(kernel_shape[:3]))
    return x.astype(dtype), kernel.astype(dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize(
    "x_shape,kernel_shape,strides,padding",
    [
        ((4, 28, 28, 1), (5, 5, 1, 64), (2, 2), "SAME"),  # D's first conv
        ((4, 14, 14, 64), (5, 5, 64, 128), (2, 2), "SAME"),  # D's second
        ((4, 16, 16, 8), (4, 4, 8, 16), (2, 2), ((1, 1), (1, 1))),  # Radford D's
        ((4, 4, 4, 16), (4, 4, 16, 1), (1, 1), "VALID"),  # Radford D's logit
    ],
)
def test_conv_and_its_gradients_match_xlas(dtype, x_shape, kernel_shape, strides, padding):
    def value_and_grads(x, kernel):
        loss = lambda x, k: jnp.sum(jnp.sin(models.conv(x, k, strides, padding).astype(jnp.float32)))  # noqa: E731
        return jax.value_and_grad(loss, (0, 1))(x, kernel)

    assert_close(*both(value_and_grads, *operands(x_shape, kernel_shape, dtype)), dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize(
    "x_shape,kernel_shape,strides",
    [((4, 7, 7, 256), (5, 5, 256, 128), (1, 1)), ((4, 7, 7, 128), (5, 5, 128, 64), (2, 2)),
     ((4, 8, 8, 32), (4, 4, 32, 3), (2, 2))],
)  # fmt: skip
def test_conv_transpose_and_its_gradients_match_xlas(dtype, x_shape, kernel_shape, strides):
    def value_and_grads(x, kernel):
        loss = lambda x, k: jnp.sum(jnp.sin(models.conv_transpose(x, k, strides).astype(jnp.float32)))  # noqa: E731
        return jax.value_and_grad(loss, (0, 1))(x, kernel)

    assert_close(*both(value_and_grads, *operands(x_shape, kernel_shape, dtype)), dtype)


def test_a_gradient_penalty_differentiates_through_all_three_calls():
    """WGAN-GP differentiates D's input gradient: each call's derivative is one of the others."""
    disc = models.Discriminator(dropout_rate=0.0)
    real, fake = (jax.random.uniform(jax.random.key(i), (4, 28, 28, 1), minval=-1, maxval=1) for i in (0, 1))
    params = disc.init(jax.random.key(2), real, train=False)

    def penalty_grads(params, real, fake):
        critic = lambda p: lambda x: disc.apply(p, x, train=False)  # noqa: E731
        return jax.grad(lambda p: losses.gradient_penalty(critic(p), real, fake, jax.random.key(3)))(params)

    assert_close(*both(penalty_grads, params, real, fake), jnp.float32)


def train_twice(dtype):
    """Two training steps of the tutorial pair: (initial state, final state, [metrics of each step])."""
    tx = optax.adam(1e-4)
    gen, disc = models.Generator(dtype=dtype), models.Discriminator(dtype=dtype)
    state = initial = create_state(jax.random.key(0), gen, disc, tx, tx, 100, (28, 28, 1))
    batch = {"image": jax.random.uniform(jax.random.key(1), (16, 28, 28, 1), minval=-1, maxval=1)}
    step = jax.jit(lambda s, b: steps.train_step(s, b))
    history = []
    for _ in range(2):
        state, metrics = step(state, batch)
        history.append(metrics)
    return initial, state, history


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_training_steps_match_xlas(dtype):
    """The losses of both steps agree (the second follows an Adam update of both networks), and every
    weight of G moved."""
    with onednn.use():
        initial, state, ours = train_twice(dtype)
    assert_close(ours, train_twice(dtype)[2], dtype)
    pairs = zip(jax.tree.leaves(state.gen_params), jax.tree.leaves(initial.gen_params), strict=True)
    assert all(np.any(a != b) for a, b in pairs)


TWO_STEPS = """
import hashlib, jax, jax.numpy as jnp, numpy as np
from tests.test_onednn import train_twice
from jaxgan import onednn
with onednn.use():
    _, state, _ = train_twice(jnp.bfloat16)
trained = (state.gen_params, state.gen_batch_stats, state.disc_params, state.gen_opt_state, state.disc_opt_state)
print(hashlib.sha256(b"".join(np.asarray(x).tobytes() for x in jax.tree.leaves(trained))).hexdigest())
"""


def test_the_serial_schedule_computes_the_same_bits():
    """``xla_flags.use_serial_schedule`` (what ``--convolutions onednn`` runs with) orders the step's work
    differently, never its arithmetic: two bfloat16 steps end in the same state, bit for bit."""
    hashes = []
    for extra in ("", xla_flags.SERIAL_SCHEDULE):
        env = {**os.environ, "XLA_FLAGS": f"{xla_flags.XLA_CPU_CONVOLUTIONS} {extra}"}
        proc = subprocess.run([sys.executable, "-c", TWO_STEPS], cwd=REPO, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        hashes.append(proc.stdout.split()[-1])
    assert hashes[0] == hashes[1]


def test_use_restores_the_previous_setting():
    assert not onednn.enabled
    with onednn.use():
        assert onednn.enabled
        with onednn.use(False):
            assert not onednn.enabled
        assert onednn.enabled
    assert not onednn.enabled


def test_the_library_is_built_once_under_a_name_that_hashes_its_inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path))
    built = onednn._build()
    assert [p.name for p in (tmp_path / "onednn").iterdir()] == [built.name]  # nothing half-written beside it
    mtime = built.stat().st_mtime_ns
    assert onednn._build() == built and built.stat().st_mtime_ns == mtime


def test_missing_onednn_is_one_actionable_error(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(UserError, match=r"needs oneDNN: pip install -e '\.\[onednn\]'"):
        onednn._build()


def test_other_platforms_are_told_to_use_xlas_convolutions(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    with pytest.raises(UserError, match=r"needs x86-64 Linux .* not linux aarch64: use --convolutions xla"):
        onednn._build()
