"""XLA:CPU's input-dilated convolutions beside the same maps written as sub-pixel (stride-1) convolutions.

    python benchmarks/transposed_conv.py [--batch-sizes 64 256] [--repeats 5] [--json out.json]

A stride-2 transposed convolution (the generator's upsampling) and the input
gradient of a stride-2 convolution (the discriminator's backward pass) are both
``conv(dilate(x, 2), K)``: XLA:CPU runs them as input-dilated convolutions.
The same map is one stride-1 convolution of the undilated input whose output
channels are the 2x2 output phases, each with its own taps of ``K``, followed
by a depth-to-space reshape (Shi et al. 2016's sub-pixel convolution); that
one convolution's window spans every phase's taps, so it also multiplies
zeros. "phases" avoids them: four stride-1 convolutions, one per phase with
only its own taps, interleaved. All are timed in turns on the generator's
stride-2 layers (medians of ``--repeats`` runs of 10 calls), with the cores'
busy share from ``getrusage`` (user time / wall time; 2.0 is both of 2 cores)
and the largest difference from XLA's result. jaxgan keeps XLA's form and instead cuts
the batch into pieces (``jaxgan.models.BATCH_PIECES``, the same results bit for
bit): "pieces" is the same convolution run on 8 pieces of the batch, and the
tutorial training step is timed with and without them (``BATCH_PIECES`` 8 and 1).
"""

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

from jaxgan import xla_flags

xla_flags.use_xla_cpu_convolutions()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import jaxgan_runner  # noqa: E402
from train_step import machine  # noqa: E402

from jaxgan import models  # noqa: E402

_DN = ("NHWC", "HWIO", "NHWC")
LAYERS = {  # name: (input side, input channels, output channels, kernel side, low padding of the dilated conv)
    "tutorial ConvT 128->64, 7->14, 5x5": (7, 128, 64, 5, 3),
    "Radford ConvT 256->128, 8->16, 4x4": (8, 256, 128, 4, 2),
}


def input_dilated(x, kernel, low):
    pads = [(low, kernel.shape[0] - low)] * 2  # output side: twice the input's
    return lax.conv_general_dilated(x, kernel, (1, 1), pads, lhs_dilation=(2, 2), dimension_numbers=_DN)


def phase_taps(k: int, low: int) -> list[list[tuple[int, int]]]:
    """For output phase r (row 2i + r) of ``input_dilated``: its (kernel row a, input row offset d) pairs."""
    # Output row 2i + r reads kernel row a at input row i + d, d = (r + a - low) / 2, where that is whole.
    return [[(a, (r + a - low) // 2) for a in range(k) if (r + a - low) % 2 == 0] for r in range(2)]


def sub_pixel(x, kernel, low):
    """``input_dilated`` as a stride-1 conv over 2x2 output phases, then depth-to-space."""
    b, h, w, c = x.shape
    k, o = kernel.shape[0], kernel.shape[3]
    offsets = phase_taps(k, low)
    lo, hi = min(d for phase in offsets for _, d in phase), max(d for phase in offsets for _, d in phase)
    taps = np.full((hi - lo + 1, 2), k)  # [window, phase] -> kernel row, k: a zero row
    for r, phase in enumerate(offsets):
        for a, d in phase:
            taps[d - lo, r] = a
    padded = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))  # [k + 1, k + 1, C, O]
    phased = padded[taps[:, :, None, None], taps[None, None, :, :]]  # [n, 2, n, 2, C, O]
    n = hi - lo + 1
    phased = phased.transpose(0, 2, 4, 1, 3, 5).reshape(n, n, c, 4 * o)
    z = lax.conv_general_dilated(x, phased, (1, 1), [(-lo, hi)] * 2, dimension_numbers=_DN)  # [B, h, w, 4 O]
    return z.reshape(b, h, w, 2, 2, o).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * w, o)


def phases(x, kernel, low):
    """``input_dilated`` as four stride-1 convs, one per output phase with only its own taps, interleaved."""
    b, h, w, _ = x.shape
    offsets = phase_taps(kernel.shape[0], low)
    rows = []
    for row_taps in offsets:
        row = []
        for col_taps in offsets:
            sub = kernel[np.array([a for a, _ in row_taps])][:, np.array([a for a, _ in col_taps])]
            pads = [(-taps[0][1], taps[-1][1]) for taps in (row_taps, col_taps)]
            row.append(lax.conv_general_dilated(x, sub, (1, 1), pads, dimension_numbers=_DN))  # [B, h, w, O]
        rows.append(jnp.stack(row, axis=3))  # [B, h, w, 2 (column phase), O]
    return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, -1)  # [B, h, 2 (row phase), w, 2, O] -> [B, 2h, 2w, O]


def in_pieces(x, kernel, low):
    return models._in_batch_pieces(input_dilated, x, kernel, low)


def timed(fns: dict, args: dict, repeats: int, calls: int) -> tuple[dict, dict]:
    """Median seconds per call and cores busy of each ``fns[name](*args[name])``, the functions taking turns."""
    times, busy = {name: [] for name in fns}, {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime, time.perf_counter()
            for _ in range(calls):
                out = fn(*args[name])
            jax.block_until_ready(out)
            wall = time.perf_counter() - t0
            times[name].append(wall / calls)
            busy[name].append((resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0) / wall)
    return {n: statistics.median(t) for n, t in times.items()}, {n: statistics.median(b) for n, b in busy.items()}


def step_runner(batch_size: int, pieces: int):
    """``throughput.jaxgan_runner``'s tutorial train step, compiled with ``models.BATCH_PIECES = pieces``."""
    models.BATCH_PIECES, default = pieces, models.BATCH_PIECES
    try:
        return jaxgan_runner(batch_size)[0]
    finally:
        models.BATCH_PIECES = default


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "jax": jax.__version__, "layers": {}}
    for layer, (side, c_in, c_out, k, low) in LAYERS.items():
        for batch_size in args.batch_sizes:
            x = jax.random.normal(jax.random.key(0), (batch_size, side, side, c_in))
            kernel = jax.random.normal(jax.random.key(1), (k, k, c_in, c_out)) / np.sqrt(k * k * c_in)
            forms = (("xla", input_dilated), ("pieces", in_pieces), ("sub-pixel", sub_pixel), ("phases", phases))
            fns = {name: jax.jit(f, static_argnums=2) for name, f in forms}
            outs = {name: fn(x, kernel, low) for name, fn in fns.items()}
            if not bool((outs["pieces"] == outs["xla"]).all()):
                raise SystemExit("the pieces' result differs from the whole batch's")
            diff = max(float(jnp.abs(outs["xla"] - outs[name]).max()) for name in ("sub-pixel", "phases"))
            seconds, cores = timed(fns, {name: (x, kernel, low) for name in fns}, args.repeats, 10)
            us = {name: 1e6 * t / batch_size for name, t in seconds.items()}
            row = {"us_per_image": us, "cores_busy": cores, "sub_pixel_and_phases_max_diff": diff}
            results["layers"].setdefault(layer, {})[batch_size] = row
            cells = ", ".join(f"{name} {us[name]:.1f} us/img ({cores[name]:.2f} cores)" for name in us)
            print(f"{layer}, batch {batch_size}: {cells}; sub-pixel and phases differ by {diff:.1e} at most")
    results["train_step"] = {}
    for batch_size in args.batch_sizes:
        runs = {f"pieces {n}": step_runner(batch_size, n) for n in (1, 8)}
        seconds, _ = timed(runs, {name: (5,) for name in runs}, args.repeats, 1)  # 5 steps a call
        rates = {name: 5 * batch_size / t for name, t in seconds.items()}
        results["train_step"][batch_size] = rates
        ratio = rates["pieces 8"] / rates["pieces 1"]
        print(f"tutorial train step, batch {batch_size}: whole {rates['pieces 1']:.0f} img/s, "
              f"8 pieces {rates['pieces 8']:.0f} -> {ratio:.2f}x")  # fmt: skip
    print(results["machine"], results["date"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
