"""The CPU train step with and without each of its three speed-ups of 2026-11-27, side by side.

    python benchmarks/step_variants.py [--dtype bfloat16] [--convolutions onednn] [--batch-sizes 64 256]
        [--repeats 5] [--rounds 3] [--json out.json]

- masks: D's dropout as ``flax.linen.Dropout`` (``jax.random.bernoulli``, whose
  Threefry XLA:CPU runs as a loop over memory) or as ``models.Dropout``
  (``jaxgan.prng.bernoulli``: the same masks, the rounds unrolled);
- bias: D's conv biases added as ``y + bias`` or by ``models.add_bias`` (a
  product for the bias gradient in 16-bit floats);
- schedule: XLA's default concurrency-optimized scheduler, or
  ``xla_flags.SERIAL_SCHEDULE`` (what ``--convolutions onednn`` runs with).

The first two are chosen when the step is traced, so their programs run in one
process and take turns; the schedule is an XLA flag of the whole process, so
each schedule runs in a child process of its own, the two alternating
``--rounds`` times. Figures are medians over all repeats of all rounds. Also
timed: one step's masks alone (two batches through D's two dropout layers),
drawn both ways.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from jaxgan import xla_flags

xla_flags.use_xla_cpu_convolutions()

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import jaxgan_runner  # noqa: E402
from train_step import machine  # noqa: E402
from transposed_conv import timed  # noqa: E402

from experiments import fashion_dcgan  # noqa: E402
from jaxgan import models, prng  # noqa: E402

SCHEDULES = {"concurrent": "", "serial": xla_flags.SERIAL_SCHEDULE}
VARIANTS = {  # name -> (dropout module, bias add)
    "flax masks, plain bias": (nn.Dropout, jnp.add),
    "jaxgan masks, plain bias": (models.Dropout, jnp.add),
    "jaxgan masks, add_bias": (models.Dropout, models.add_bias),
}


def step_runner(batch_size: int, dtype, use_onednn: bool, dropout, add):
    """``throughput.jaxgan_runner``'s step, traced with ``models.Dropout = dropout`` and ``models.add_bias = add``."""
    saved = models.Dropout, models.add_bias
    models.Dropout, models.add_bias = dropout, add
    try:
        return jaxgan_runner(batch_size, dtype, use_onednn=use_onednn)[0]
    finally:
        models.Dropout, models.add_bias = saved


def masks_of_a_step(bernoulli, batch_size: int):
    """The masks one step draws: D's two dropout layers, for the real and the generated batch."""
    shapes = [(batch_size, 14, 14, 64), (batch_size, 7, 7, 128)]
    return lambda key: [bernoulli(jax.random.fold_in(key, i), 0.7, s) for i, s in enumerate(2 * shapes)]


def child(args) -> dict:
    """Seconds of every timing of each program, by batch size (run under one schedule)."""
    dtype, use_onednn = jnp.dtype(args.dtype), args.convolutions == "onednn"
    out = {}
    for b in args.batch_sizes:
        fns = {name: step_runner(b, dtype, use_onednn, *v) for name, v in VARIANTS.items()}
        inputs = {name: (1,) for name in fns}  # run(1): one step
        for name, bernoulli in (("masks: jax.random", jax.random.bernoulli), ("masks: jaxgan.prng", prng.bernoulli)):
            fns[name], inputs[name] = jax.jit(masks_of_a_step(bernoulli, b)), (jax.random.key(0),)
        for name, fn in fns.items():
            jax.block_until_ready(fn(*inputs[name]))
        out[b] = {name: [] for name in fns}
        for _ in range(args.repeats):  # one timing each per repeat, so that every repeat is kept
            seconds, _ = timed(fns, inputs, 1, args.calls)
            for name, s in seconds.items():
                out[b][name].append(s)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--dtype", default="bfloat16", choices=fashion_dcgan.DTYPES, help="as the trainer's flag")
    parser.add_argument("--convolutions", default="onednn", choices=fashion_dcgan.CONVOLUTIONS, help="likewise")
    parser.add_argument("--repeats", type=int, default=5, help="timings of each program per round")
    parser.add_argument("--calls", type=int, default=5, help="steps per timing")
    parser.add_argument("--rounds", type=int, default=3, help="child processes per schedule, alternating")
    parser.add_argument("--json", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0

    seconds = {}  # (schedule, batch, program) -> all timings
    for _ in range(args.rounds):
        for schedule, flag in SCHEDULES.items():
            env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()}
            proc = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--child"], env=env, capture_output=True,
                                  text=True, check=True)  # fmt: skip
            for b, programs in json.loads(proc.stdout.splitlines()[-1]).items():
                for name, times in programs.items():
                    seconds.setdefault((schedule, int(b), name), []).extend(times)
    ms = {key: 1e3 * statistics.median(times) for key, times in seconds.items()}

    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "jax": jax.__version__,
               "dtype": args.dtype, "convolutions": args.convolutions, "ms": {}}  # fmt: skip
    print(f"{results['machine']}, {results['date']}, {args.dtype}, {args.convolutions}'s convolutions; "
          f"ms (img/s for the steps), medians of {args.rounds} x {args.repeats}")  # fmt: skip
    for b in args.batch_sizes:
        for schedule in SCHEDULES:
            row = {name: t for (s, bb, name), t in ms.items() if (s, bb) == (schedule, b)}
            results["ms"].setdefault(str(b), {})[schedule] = row
            rate = {name: "" if name.startswith("masks") else f" ({b / t * 1e3:.0f})" for name, t in row.items()}
            cells = "; ".join(f"{name} {t:.1f}{rate[name]}" for name, t in row.items())
            print(f"batch {b}, {schedule} schedule: {cells}")
        trainers = "serial" if args.convolutions == "onednn" else "concurrent"  # the schedule the trainer picks
        base, now = ms[("concurrent", b, "flax masks, plain bias")], ms[(trainers, b, "jaxgan masks, add_bias")]
        print(f"batch {b}: the trainer's step ({trainers} schedule) {base / now:.2f}x the step before these changes")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
