"""Training-step throughput of the DCGAN, jaxgan's transposed conv vs flax.linen.ConvTranspose, side by side.

    python benchmarks/train_step.py [--batch-sizes 64 128] [--repeats 7] [--json out.json]

Both variants compute the same function (tests/test_models.py); they differ
only in how the transposed convolutions' gradients are lowered. Each timing is
the median of ``--repeats`` runs of ``--steps`` jitted steps after compilation,
alternating the variants so that machine noise hits both alike. Also times the
kernel gradient of the 7x7x128 -> 14x14x64 transposed conv alone.
"""

import argparse
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxgan import models, steps
from jaxgan.state import create_state


def make_step(fast: bool, batch_size: int):
    tx = optax.adam(1e-4)
    gen = models.Generator(fast_conv_transpose=fast)
    state = create_state(jax.random.key(0), gen, models.Discriminator(), tx, tx, 100, (28, 28, 1))
    batch = {"image": jax.random.uniform(jax.random.key(1), (batch_size, 28, 28, 1), minval=-1, maxval=1)}
    step = jax.jit(steps.train_step, donate_argnums=0)
    state, _ = step(state, batch)  # compile
    jax.block_until_ready(state)
    return step, state, batch


def time_steps(step, state, batch, num_steps):
    t0 = time.perf_counter()
    for _ in range(num_steps):
        state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    return state, time.perf_counter() - t0


def kernel_grad_ms(fast: bool, repeats: int) -> float:
    """Median ms of d(sum(conv_transpose(x, k)))/dk for the generator's middle layer at batch 64."""
    x = jax.random.normal(jax.random.key(0), (64, 7, 7, 128))
    k = jax.random.normal(jax.random.key(1), (5, 5, 128, 64))
    dn = ("NHWC", "HWIO", "NHWC")

    def f(k, x):
        y = (
            models.conv_transpose(x, k, (2, 2))
            if fast
            else lax.conv_transpose(x, k, (2, 2), "SAME", dimension_numbers=dn)
        )
        return jnp.sum(y)

    g = jax.jit(jax.grad(f))  # x is an argument, so XLA cannot fold the work away
    jax.block_until_ready(g(k, x))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(g(k, x))
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


# /proc/cpuinfo flags that decide these benchmarks: the widest float32 SIMD and native bfloat16.
ISA_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX-512-BF16", "amx_bf16": "AMX-BF16"}


def _cpuinfo() -> dict[str, str]:
    """The fields of /proc/cpuinfo (where one repeats, the last processor's: these machines' are alike; empty
    where there is no such file)."""
    try:
        with open("/proc/cpuinfo") as f:
            return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in f if ":" in line)}
    except OSError:
        return {}


def nominal_peak_gflops() -> float | None:
    """The CPU's float32 peak as its data sheet would count it: cores x clock x FLOPs a cycle.

    A cycle is taken to retire two fused multiply-adds (2 FLOPs each) on full
    vectors: 16 float32 lanes with AVX-512, 8 with AVX2, 4 without; two FMA units
    a core is what Xeon Gold/Platinum and AMD Zen cores have (hyperthreads share
    them: the cores are counted, not the logical CPUs). The clock is the
    one the kernel reports (on these VMs the base clock; turbo raises the real
    peak), so the measured matmul rate may come close to or pass this figure.
    None off CPUs or without /proc/cpuinfo.
    """
    info = _cpuinfo()
    if jax.default_backend() != "cpu" or "cpu MHz" not in info:
        return None
    flags = set(info.get("flags", "").split())
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    threads_per_core = max(1, int(info.get("siblings", 1)) // max(1, int(info.get("cpu cores", 1))))
    cores = os.cpu_count() // threads_per_core
    return cores * float(info["cpu MHz"]) / 1e3 * 2 * 2 * lanes


def machine() -> str:
    """CPU model, core count and vector extensions (or the accelerator), for BENCHMARKS.md.

    The development machines vary between sessions (AVX2-only AMD EPYC, AVX-512 +
    AMX Intel Xeon), and the frameworks' relative speeds vary with them.
    """
    if jax.default_backend() != "cpu":
        return f"{jax.devices()[0].device_kind} x{jax.device_count()}"
    info = _cpuinfo()
    model = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    isa = ", ".join(name for flag, name in ISA_FLAGS.items() if flag in flags)
    return f"{model}, {os.cpu_count()} cores" + (f" ({isa})" if isa else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    results = {
        "machine": machine(),
        "jax": jax.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "kernel_grad_ms": {
            "jaxgan": kernel_grad_ms(True, args.repeats),
            "flax": kernel_grad_ms(False, args.repeats),
        },
        "train_step_img_per_s": {},
    }
    for batch_size in args.batch_sizes:
        runs = {name: make_step(name == "jaxgan", batch_size) for name in ("jaxgan", "flax")}
        times = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, (step, state, batch) in runs.items():
                state, seconds = time_steps(step, state, batch, args.steps)
                runs[name] = (step, state, batch)
                times[name].append(seconds)
        rates = {name: batch_size * args.steps / statistics.median(t) for name, t in times.items()}
        results["train_step_img_per_s"][batch_size] = rates

    print(f"{results['machine']}, jax {results['jax']}, {results['date']}")
    kg = results["kernel_grad_ms"]
    print(f"ConvT kernel gradient [64,7,7,128]->[64,14,14,64]: jaxgan {kg['jaxgan']:.1f} ms, "
          f"flax {kg['flax']:.1f} ms ({kg['flax'] / kg['jaxgan']:.1f}x)")  # fmt: skip
    print(f"{'batch':>6} {'jaxgan img/s':>13} {'flax img/s':>11} {'ratio':>6}")
    for batch_size, rates in results["train_step_img_per_s"].items():
        ratio = rates["jaxgan"] / rates["flax"]
        print(f"{batch_size:>6} {rates['jaxgan']:>13.1f} {rates['flax']:>11.1f} {ratio:>6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
