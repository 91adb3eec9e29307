"""Where the DCGAN train step's time goes on a CPU: each convolution timed alone, beside the whole step.

    python benchmarks/step_breakdown.py [--batch-size 64] [--repeats 7] [--dtype bfloat16]
        [--convolutions onednn] [--json out.json]

Every convolution and dense layer that ``jaxgan.steps.train_step`` runs for the
TF-tutorial pair is compiled as its own program (through jaxgan's public
``models.conv`` / ``models.conv_transpose`` and ``jax.vjp``, so each is the
computation the step runs: the forward, the input gradient or the kernel
gradient, with the batch pieces of input-dilated convolutions), timed, and
multiplied by how often a step runs it (the multiplicities follow
``benchmarks/flops.py``: D sees two batches; D's input gradients run once per
batch in D's pass and once more in G's). Beside them: the multiply-adds counted
as in ``flops.py`` (window taps inside the input), the GFLOP/s each achieves,
and a float32 matmul's rate on this machine.

The whole step is then timed as the experiments run it, and with D's dropout
off (the cost of drawing and applying the masks). The programs take turns in
each of ``--repeats`` rounds; medians. The sum of the layers alone against the
step says how much of the step is convolutions, and how much everything else
(BatchNorm, activations, dropout, losses, Adam, layout copies). With
``--convolutions onednn`` everything runs with XLA's serial schedule, as the
trainer runs it (:func:`jaxgan.xla_flags.use_serial_schedule`).
"""

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import NamedTuple

from jaxgan import xla_flags

xla_flags.use_xla_cpu_convolutions()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flops import conv_macs  # noqa: E402
from throughput import jaxgan_runner, matmul_gflops  # noqa: E402
from train_step import machine  # noqa: E402
from transposed_conv import timed  # noqa: E402

from experiments import fashion_dcgan  # noqa: E402
from jaxgan import models, onednn  # noqa: E402

FWD, DX, DK = "forward", "input grad", "kernel grad"


class Layer(NamedTuple):
    transposed: bool
    input_shape: tuple[int, int, int]  # [H, W, C] of the map it reads
    kernel: int
    stride: int
    features: int
    counted_side: int  # the side of the strided conv (the adjoint's, for a transposed one) flops.py counts
    passes: dict[str, int]  # pass -> times a step runs it


LAYERS = {
    "G ConvT 256->128, 7x7, s1": Layer(True, (7, 7, 256), 5, 1, 128, 7, {FWD: 1, DX: 1, DK: 1}),
    "G ConvT 128->64, 7->14, s2": Layer(True, (7, 7, 128), 5, 2, 64, 14, {FWD: 1, DX: 1, DK: 1}),
    "G ConvT 64->1, 14->28, s2": Layer(True, (14, 14, 64), 5, 2, 1, 28, {FWD: 1, DX: 1, DK: 1}),
    "D conv 1->64, 28->14, s2": Layer(False, (28, 28, 1), 5, 2, 64, 28, {FWD: 2, DX: 1, DK: 2}),
    "D conv 64->128, 14->7, s2": Layer(False, (14, 14, 64), 5, 2, 128, 14, {FWD: 2, DX: 3, DK: 2}),
}


def layer_programs(batch_size: int, dtype=jnp.float32) -> list[tuple[str, int, int, object, tuple]]:
    """``(name, times per step, multiply-adds per image, compiled program, args)`` for each pass of each layer.

    Compiled with the convolutions :mod:`jaxgan.onednn` is set to when called.
    """
    out = []
    keys = iter(jax.random.split(jax.random.key(0), 100))
    normal = lambda *shape: (0.1 * jax.random.normal(next(keys), shape)).astype(dtype)  # noqa: E731
    for name, layer in LAYERS.items():
        c, k, s, o = layer.input_shape[2], layer.kernel, layer.stride, layer.features
        x, kernel = normal(batch_size, *layer.input_shape), normal(k, k, c, o)
        if layer.transposed:
            fn = partial(models.conv_transpose, strides=(s, s))
            macs = conv_macs(layer.counted_side, k, s, o, c)
        else:
            fn = partial(models.conv, strides=(s, s), padding="SAME")
            macs = conv_macs(layer.counted_side, k, s, c, o)
        g = normal(*jax.eval_shape(fn, x, kernel).shape)
        programs = {
            FWD: (fn, (x, kernel)),
            DX: (lambda x, kernel, g, fn=fn: jax.vjp(partial(fn, kernel=kernel), x)[1](g)[0], (x, kernel, g)),
            DK: (lambda x, kernel, g, fn=fn: jax.vjp(partial(fn, x), kernel)[1](g)[0], (x, kernel, g)),
        }
        for kind, times in layer.passes.items():
            f, args = programs[kind]
            out.append((f"{name}: {kind}", times, macs, jax.jit(f).lower(*args).compile(), args))
    z, dense, g = normal(batch_size, 100), normal(100, 7 * 7 * 256), normal(batch_size, 7 * 7 * 256)
    macs = 100 * 7 * 7 * 256
    out.append((f"G dense 100->12544: {FWD}", 1, macs, jax.jit(jnp.dot).lower(z, dense).compile(), (z, dense)))
    out.append((f"G dense 100->12544: {DK}", 1, macs, jax.jit(lambda z, g: z.T @ g).lower(z, g).compile(), (z, g)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10, help="calls (steps) per timing")
    parser.add_argument("--dtype", default="float32", choices=fashion_dcgan.DTYPES, help="as the trainer's flag")
    parser.add_argument("--convolutions", default="xla", choices=fashion_dcgan.CONVOLUTIONS, help="likewise")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    b, dtype, use_onednn = args.batch_size, jnp.dtype(args.dtype), args.convolutions == "onednn"
    if use_onednn:
        xla_flags.use_serial_schedule()  # as the trainer runs it; before JAX starts its backend

    with onednn.use(use_onednn):
        layers = layer_programs(b, dtype)
    steps = {
        "train step": jaxgan_runner(b, dtype, use_onednn=use_onednn)[0],
        "train step, D without dropout": jaxgan_runner(b, dtype, use_onednn=use_onednn, dropout_rate=0.0)[0],
    }
    fns = {name: program for name, _, _, program, _ in layers} | steps
    inputs = {name: args for name, _, _, _, args in layers} | {name: (1,) for name in steps}  # run(1): one step
    for name, fn in fns.items():
        jax.block_until_ready(fn(*inputs[name]))
    seconds, _ = timed(fns, inputs, args.repeats, args.calls)
    ms = {name: 1e3 * t for name, t in seconds.items()}

    matmul = matmul_gflops()
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "jax": jax.__version__, "batch_size": b,
               "dtype": args.dtype, "convolutions": args.convolutions, "matmul_gflops": matmul, "layers": {},
               "ms": ms}  # fmt: skip
    print(f"{results['machine']}, {results['date']}, batch {b}, {args.dtype}, {args.convolutions}'s convolutions; "
          f"float32 matmul {matmul:.0f} GFLOP/s")  # fmt: skip
    print(f"{'pass':48} {'ms':>7} {'x':>2} {'ms/step':>8} {'GFLOP/s':>8}")
    total = 0.0
    for name, times_per_step, macs, _, _ in layers:
        gflops = 2 * macs * b / (ms[name] / 1e3) / 1e9
        total += times_per_step * ms[name]
        results["layers"][name] = {"ms": ms[name], "per_step": times_per_step, "gflops": gflops}
        print(f"{name:48} {ms[name]:7.2f} {times_per_step:>2} {times_per_step * ms[name]:8.2f} {gflops:8.0f}")
    step, no_dropout = ms["train step"], ms["train step, D without dropout"]
    results["layers_ms_per_step"] = total
    for name, value in (("convolutions and dense layers, summed", total), ("the whole train step", step),
                        ("the whole train step, D without dropout", no_dropout)):  # fmt: skip
        print(f"{name:48} {'':10} {value:8.2f}  ({b / value * 1e3:.0f} img/s)")
    rest, dropout = step - total, step - no_dropout
    print(f"layers: {total / step:.0%} of the step; the rest: {rest:.1f} ms, of which dropout {dropout:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
