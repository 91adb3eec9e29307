"""Training images/s of the DCGAN step: jaxgan beside the same network and step in PyTorch and TensorFlow.

    pip install -e '.[bench]'
    python benchmarks/throughput.py [--batch-sizes 64 128 256] [--repeats 5] [--steps 10] [--serial-schedule]
        [--json out.json]

The same step everywhere (the TF tutorial's): a noise batch, one generator
forward, the discriminator on the real and the generated batch, binary
cross-entropy with the non-saturating generator loss, both gradients from that
one forward, one Adam(1e-4) update of each network. The real batch is fixed and
already on the device, so only the step is timed. PyTorch runs eagerly with
channels_last tensors, TensorFlow as a Keras model under ``tf.function``,
jaxgan as ``jax.jit(train_step)`` with the state donated (float32, and bfloat16
compute), with XLA's own CPU convolutions as the experiments run it
(:mod:`jaxgan.xla_flags`), as "jaxgan ynnpack" with jaxlib's default
YNNPACK ones, and as "jaxgan onednn" with oneDNN's (``--convolutions onednn``,
:mod:`jaxgan.onednn`). The peers run in float32 and in bfloat16 too
(PyTorch's autocast, Keras' ``mixed_bfloat16``), so that a bfloat16 jaxgan is
compared with bfloat16 peers as well as with the float32 ones. Each figure is
the median of ``--repeats`` timings of ``--steps`` steps after a warm-up; the
frameworks take turns within each repeat, so machine noise hits all of them alike.

``--serial-schedule``: every jaxgan program with XLA's serial schedule
(``xla_flags.SERIAL_SCHEDULE``), as the trainer runs ``--convolutions onednn``;
without it, the default schedule that the trainer's XLA convolutions run with.
The flag is the process's, so the "jaxgan onednn" rows of the trainer come from
a run with it and the other jaxgan rows from one without.

Also printed: the FLOPs of one training image (XLA's cost analysis of the
compiled jaxgan step with D's dropout off, since XLA counts the integer hashing
of the masks' random bits as FLOPs) and the FLOP/s each rate achieves, as shares of a
measured float32 matmul rate of this machine (what its cores deliver at best)
and of the CPU's nominal peak (``train_step.nominal_peak_gflops``).
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

from jaxgan import xla_flags

xla_flags.use_xla_cpu_convolutions()  # "jaxgan" is what the experiments run; "jaxgan ynnpack", jaxlib's default

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_convolutions import VARIANTS  # noqa: E402
from train_step import machine, nominal_peak_gflops  # noqa: E402

from jaxgan import models, onednn, steps  # noqa: E402
from jaxgan.state import create_state  # noqa: E402

LR, NOISE = 1e-4, 100


def jaxgan_runner(batch_size: int, dtype=jnp.float32, compiler_options=None, use_onednn=False, **disc_options):
    """``(run, flops_per_image)``: ``run(n)`` takes ``n`` compiled steps; ``disc_options`` go to the Discriminator.

    ``use_onednn``: convolutions by :mod:`jaxgan.onednn` (``--convolutions onednn``).
    """
    tx = optax.adam(LR)
    gen, disc = models.Generator(dtype=dtype), models.Discriminator(dtype=dtype, **disc_options)
    state = create_state(jax.random.key(0), gen, disc, tx, tx, NOISE, (28, 28, 1))
    batch = {"image": jax.random.uniform(jax.random.key(1), (batch_size, 28, 28, 1), minval=-1, maxval=1)}
    step = jax.jit(steps.train_step, donate_argnums=0)
    with onednn.use(use_onednn):
        compiled = step.lower(state, batch).compile(compiler_options=compiler_options)
    flops = compiled.cost_analysis()
    flops = (flops[0] if isinstance(flops, list) else flops).get("flops", float("nan"))
    box = {"state": state}

    def run(num_steps: int) -> None:
        state = box["state"]
        for _ in range(num_steps):
            state, metrics = compiled(state, batch)
        jax.block_until_ready(metrics)
        box["state"] = state

    return run, flops / batch_size


def torch_runner(batch_size: int, bf16: bool = False):
    """``bf16``: forward passes under ``torch.autocast`` (bfloat16 convolutions and matmuls, float32 weights)."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Linear(NOISE, 7 * 7 * 256, bias=False)
            self.bn0 = nn.BatchNorm1d(7 * 7 * 256, momentum=0.01, eps=1e-3)
            self.convs = nn.Sequential(
                nn.ConvTranspose2d(256, 128, 5, 1, padding=2, bias=False),
                nn.BatchNorm2d(128, momentum=0.01, eps=1e-3),
                nn.LeakyReLU(0.3),
                nn.ConvTranspose2d(128, 64, 5, 2, padding=2, output_padding=1, bias=False),
                nn.BatchNorm2d(64, momentum=0.01, eps=1e-3),
                nn.LeakyReLU(0.3),
                nn.ConvTranspose2d(64, 1, 5, 2, padding=2, output_padding=1, bias=False),
                nn.Tanh(),
            )

        def forward(self, z):
            h = nn.functional.leaky_relu(self.bn0(self.dense(z)), 0.3)
            h = h.view(-1, 256, 7, 7).contiguous(memory_format=torch.channels_last)
            return self.convs(h)

    disc = nn.Sequential(
        nn.Conv2d(1, 64, 5, 2, padding=2),
        nn.LeakyReLU(0.3),
        nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, 2, padding=2),
        nn.LeakyReLU(0.3),
        nn.Dropout(0.3),
        nn.Flatten(),
        nn.Linear(7 * 7 * 128, 1),
    ).to(memory_format=torch.channels_last)
    gen = Generator().to(memory_format=torch.channels_last)
    gen_opt, disc_opt = torch.optim.Adam(gen.parameters(), LR), torch.optim.Adam(disc.parameters(), LR)
    real = (torch.rand(batch_size, 1, 28, 28) * 2 - 1).contiguous(memory_format=torch.channels_last)
    ones, zeros = torch.ones(batch_size, 1), torch.zeros(batch_size, 1)
    bce = nn.functional.binary_cross_entropy_with_logits

    def step():
        with torch.autocast("cpu", torch.bfloat16) if bf16 else contextlib.nullcontext():
            fake = gen(torch.randn(batch_size, NOISE))
            real_logits, fake_logits = disc(real), disc(fake)
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        d_loss = bce(real_logits, ones) + bce(fake_logits, zeros)
        g_loss = bce(fake_logits, ones)
        d_grads = torch.autograd.grad(d_loss, list(disc.parameters()), retain_graph=True)
        g_grads = torch.autograd.grad(g_loss, list(gen.parameters()))
        for p, g in zip(disc.parameters(), d_grads, strict=True):
            p.grad = g
        for p, g in zip(gen.parameters(), g_grads, strict=True):
            p.grad = g
        disc_opt.step()
        gen_opt.step()

    def run(num_steps: int) -> None:
        for _ in range(num_steps):
            step()

    run(2)  # warm-up
    return run


def tf_runner(batch_size: int, bf16: bool = False):
    """``bf16``: Keras' ``mixed_bfloat16`` policy (bfloat16 compute, float32 weights), the last layers in float32."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from tensorflow.keras import layers

    tf.random.set_seed(0)
    tf.keras.mixed_precision.set_global_policy("mixed_bfloat16" if bf16 else "float32")  # for the layers built next
    gen = tf.keras.Sequential([
        layers.Input((NOISE,)),
        layers.Dense(7 * 7 * 256, use_bias=False), layers.BatchNormalization(), layers.LeakyReLU(0.3),
        layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, 5, 1, padding="same", use_bias=False), layers.BatchNormalization(),
        layers.LeakyReLU(0.3),
        layers.Conv2DTranspose(64, 5, 2, padding="same", use_bias=False), layers.BatchNormalization(),
        layers.LeakyReLU(0.3),
        layers.Conv2DTranspose(1, 5, 2, padding="same", use_bias=False),
        layers.Activation("tanh", dtype="float32"),
    ])  # fmt: skip
    disc = tf.keras.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(64, 5, 2, padding="same"), layers.LeakyReLU(0.3), layers.Dropout(0.3),
        layers.Conv2D(128, 5, 2, padding="same"), layers.LeakyReLU(0.3), layers.Dropout(0.3),
        layers.Flatten(), layers.Dense(1, dtype="float32"),
    ])  # fmt: skip
    tf.keras.mixed_precision.set_global_policy("float32")
    gen_opt, disc_opt = tf.keras.optimizers.Adam(LR), tf.keras.optimizers.Adam(LR)
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    real = tf.random.uniform((batch_size, 28, 28, 1), -1, 1)

    @tf.function
    def step():
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            fake = gen(tf.random.normal((batch_size, NOISE)), training=True)
            real_logits, fake_logits = disc(real, training=True), disc(fake, training=True)
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
        for tape, loss, model, opt in ((gen_tape, g_loss, gen, gen_opt), (disc_tape, d_loss, disc, disc_opt)):
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return d_loss

    def run(num_steps: int) -> None:
        for _ in range(num_steps):
            loss = step()
        loss.numpy()

    run(2)  # trace, compile, warm up
    return run


def matmul_gflops(repeats: int = 5) -> float:
    """Median float32 GFLOP/s of a 2048^3 matmul under XLA: what this machine's cores deliver at best."""
    n = 2048
    a = jax.random.normal(jax.random.key(0), (n, n))
    f = jax.jit(lambda a: a @ a)
    jax.block_until_ready(f(a))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(a))
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--serial-schedule", action="store_true", help="as --convolutions onednn runs (see above)")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    if args.serial_schedule:
        xla_flags.use_serial_schedule()  # before JAX starts its backend, in machine() below

    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "jax": jax.__version__}
    results["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    results["matmul_gflops"] = matmul_gflops()
    results["nominal_peak_gflops"] = nominal_peak_gflops()
    results["batches"] = {}
    for batch_size in args.batch_sizes:
        jax_run = jaxgan_runner(batch_size)[0]
        # The network's FLOPs: XLA counts the integer hashing of the dropout masks' random bits as FLOPs too.
        flops_per_image = jaxgan_runner(batch_size, dropout_rate=0.0)[1]
        runners = {
            "jaxgan": jax_run,
            "jaxgan bf16": jaxgan_runner(batch_size, jnp.bfloat16)[0],
            "jaxgan ynnpack": jaxgan_runner(batch_size, compiler_options=VARIANTS["ynnpack"])[0],
            "jaxgan onednn": jaxgan_runner(batch_size, use_onednn=True)[0],
            "jaxgan onednn bf16": jaxgan_runner(batch_size, jnp.bfloat16, use_onednn=True)[0],
            "pytorch": torch_runner(batch_size),
            "pytorch bf16": torch_runner(batch_size, bf16=True),
            "tensorflow": tf_runner(batch_size),
            "tensorflow bf16": tf_runner(batch_size, bf16=True),
        }
        for run in runners.values():
            run(2)  # warm-up after compilation
        times = {name: [] for name in runners}
        for _ in range(args.repeats):
            for name, run in runners.items():
                t0 = time.perf_counter()
                run(args.steps)
                times[name].append(time.perf_counter() - t0)
        rates = {name: batch_size * args.steps / statistics.median(t) for name, t in times.items()}
        results["batches"][batch_size] = {
            "img_per_s": rates,
            "flops_per_image": flops_per_image,
            "gflops_achieved": {name: r * flops_per_image / 1e9 for name, r in rates.items()},
        }

    matmul, peak = results["matmul_gflops"], results["nominal_peak_gflops"]
    peak_text = f"{peak:.0f} GFLOP/s" if peak else "unknown"
    print(f"{results['machine']}, {results['date']}; float32 matmul {matmul:.0f} GFLOP/s, nominal peak {peak_text}")
    names = list(next(iter(results["batches"].values()))["img_per_s"])
    print(f"{'batch':>5} " + " ".join(f"{n:>18}" for n in names) + "  GFLOP/img")
    for batch_size, r in results["batches"].items():
        cells = " ".join(f"{r['img_per_s'][n]:>18.1f}" for n in names)
        print(f"{batch_size:>5} {cells}  {r['flops_per_image'] / 1e9:>9.3f}")
    for batch_size, r in results["batches"].items():
        rates = r["img_per_s"]
        ours = max((n for n in rates if n.startswith("jaxgan")), key=rates.get)
        for kind, suffix in (("float32", ""), ("bfloat16", " bf16")):
            peer = max((f"pytorch{suffix}", f"tensorflow{suffix}"), key=rates.get)
            ratio, plain = rates[ours] / rates[peer], rates["jaxgan"] / rates[peer]
            print(f"batch {batch_size}: fastest jaxgan ({ours}) / fastest {kind} peer ({peer}) = {ratio:.2f}; "
                  f"jaxgan float32 / it = {plain:.2f}")  # fmt: skip
    for batch_size, r in results["batches"].items():
        shares = ", ".join(
            f"{name} {g:.0f} GFLOP/s ({g / matmul:.0%} of the matmul" + (f", {g / peak:.0%} of peak)" if peak else ")")
            for name, g in r["gflops_achieved"].items()
        )
        print(f"batch {batch_size}: {shares}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
