"""Training throughput of the DCGAN's step dispatched one at a time vs as one ``lax.scan`` of n steps.

    python -m benchmarks.steps_per_call [--lengths 1 10 100] [--repeats 5] [--batch-size 64] [--json out.json]

What ``--steps-per-call n`` of the trainer changes: ``jaxgan.steps.repeat(step, n)``,
jitted, over the real trainer's step (batch gathered from device-resident images by
``parallel.epoch_step``), batch 64 unless ``--batch-size`` says otherwise. Each
timing is the median of ``--repeats`` runs of ``--steps`` steps after compilation,
the lengths alternating so that machine noise hits all alike. Prints img/s per
length and the best length (also in the JSON).
"""

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp

from benchmarks.train_step import machine
from experiments import fashion_dcgan as trainer
from jaxgan import parallel, steps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed run (a multiple of every length)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    if any(args.steps % n for n in args.lengths):
        parser.error(f"--steps {args.steps} is not a multiple of every length in {args.lengths}")

    cfg, batch, steps_per_epoch = trainer.Config(batch_size=args.batch_size), args.batch_size, 100
    num_images = steps_per_epoch * batch
    spec = trainer.DataSpec((28, 28, 1), 28, ())
    mesh = parallel.make_mesh()
    images = jax.random.randint(jax.random.key(0), (num_images, 28, 28, 1), 0, 256).astype(jnp.uint8)
    images, perm = parallel.put_replicated((images, jnp.arange(num_images)), mesh)
    step = parallel.epoch_step(trainer.train_step_of(cfg, steps_per_epoch), mesh, steps_per_epoch, batch, spec.side)
    runs, compile_s = {}, {}
    for n in args.lengths:
        t0 = time.perf_counter()
        state = parallel.put_replicated(trainer.build_state(cfg, spec), mesh)
        fn = jax.jit(steps.repeat(step, n), donate_argnums=0).lower(state, images, perm).compile()
        compile_s[n] = time.perf_counter() - t0
        runs[n] = [fn, fn(state, images, perm)[0]]
    times = {n: [] for n in runs}
    for _ in range(args.repeats):
        for n, run in runs.items():
            fn, state = run
            t0 = time.perf_counter()
            for _ in range(args.steps // n):
                state, metrics = fn(state, images, perm)
            jax.block_until_ready(metrics)
            times[n].append(time.perf_counter() - t0)
            run[1] = state
    rates = {n: batch * args.steps / statistics.median(t) for n, t in times.items()}
    best = max(rates, key=rates.get)
    results = {
        "machine": machine(), "jax": jax.__version__, "date": time.strftime("%Y-%m-%d"), "batch_size": batch,
        "img_per_s": rates, "compile_s": compile_s, "best": best,
    }  # fmt: skip
    print(f"{results['machine']}, jax {results['jax']}, {results['date']}, batch {batch}")
    print(f"{'steps/call':>10} {'img/s':>10} {'vs 1':>6} {'compile s':>10}")
    for n, rate in rates.items():
        print(f"{n:>10} {rate:>10.0f} {rate / rates[args.lengths[0]]:>6.2f} {compile_s[n]:>10.1f}")
    print(f"best: {best}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
