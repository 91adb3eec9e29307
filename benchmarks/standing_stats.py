"""Sample quality of an EMA run drawn with the live generator's BatchNorm statistics or with standing ones.

    JAXGAN_MANUAL_DIR=../shared/data/fashion_mnist python benchmarks/standing_stats.py --workdir W
        [--batches 0 25 100 400] [--draws 1] [--live-generator] [--num 10000] [--seed 1]
        [--inception --inception-weights W.npz] [--json out.json]

For each ``--batches`` count K (0: the live generator's running statistics, as
before ``--standing-stats``; else ``trainer.sampling_stats`` with K batches of the
run's batch size), the same ``--num`` samples of the latest checkpoint's EMA
generator (``experiments.evaluate``'s noise for ``--seed``) are measured as
``experiments.evaluate`` measures them: FCD, KID, precision and recall against
the 10,000 test images, and with ``--inception`` the Inception FID (about 10
minutes each on a 2-core CPU). Also timed: computing the statistics.
``--draws D`` repeats each K > 0 with D draws of the statistics' own noise (that
of run seeds s, s + 1, ...; the samples' noise stays the run's): how much the
metrics move with that noise alone. ``--live-generator`` samples the live
weights instead of their moving average (any run, with or without EMA).
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import jax
from etils import epath

from experiments import fashion_dcgan as trainer
from experiments import generate as gen
from jaxgan import data, evaluation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import machine  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="a run (trained with --ema-decay, or --live-generator)")
    parser.add_argument("--batches", type=int, nargs="+", default=[0, 25, 100, 400])
    parser.add_argument("--draws", type=int, default=1)
    parser.add_argument("--live-generator", action="store_true", help="sample the live weights, not their average")
    parser.add_argument("--num", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--inception", action="store_true")
    parser.add_argument("--inception-weights", default=os.environ.get("JAXGAN_INCEPTION_WEIGHTS", ""))
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    run = gen.load_run(epath.Path(args.workdir))
    if args.live_generator:
        run = run._replace(state=run.state.replace(gen_ema_params=None))
    elif not run.cfg.ema_decay:
        parser.error(f"{args.workdir} was trained without --ema-decay: pass --live-generator")
    test = data.load_split("fashion_mnist", "test", manual_dir=os.environ.get("JAXGAN_MANUAL_DIR") or None)["image"]
    fast = evaluation.FastMetrics(test)
    results = {"machine": machine(), "workdir": args.workdir, "step": int(run.state.step), "num": args.num,
               "seed": args.seed, "live_generator": args.live_generator, "rows": []}  # fmt: skip
    for batches in args.batches:
        for draw in range(args.draws if batches else 1):
            cfg = dataclasses.replace(run.cfg, standing_stats=batches, seed=run.cfg.seed + draw)
            stats, seconds = None, 0.0
            if batches:
                if draw == 0:  # compiles the statistics' program for this K outside the timing
                    trainer.standing_stats(cfg, run.spec, run.state)
                start = time.perf_counter()
                stats = jax.block_until_ready(trainer.standing_stats(cfg, run.spec, run.state))
                seconds = time.perf_counter() - start
            images = gen.draw(run._replace(batch_stats=stats), args.num, args.seed)
            row = {"batches": batches, "draw": draw, "stats_seconds": seconds, **fast(images)}
            if args.inception:
                row["fid"] = evaluation.inception_fid(images, test, args.inception_weights or None)
            results["rows"].append(row)
            print(json.dumps(row), flush=True)

    header = ("batches", "draw", "FCD", "KID x100", "precision", "recall", "FID", "stats s")
    print("\n" + " ".join(f"{h:>9s}" for h in header))
    for r in results["rows"]:
        fid = f"{r['fid']:.2f}" if "fid" in r else "-"
        cells = [f"{r['batches']:9d}", f"{r['draw']:9d}", f"{r['fcd']:9.2f}", f"{r['kid']:9.3f}"]
        cells += [f"{r['precision']:9.3f}", f"{r['recall']:9.3f}", f"{fid:>9s}", f"{r['stats_seconds']:9.2f}"]
        print(" ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
