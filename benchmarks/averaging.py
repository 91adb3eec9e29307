"""Sample quality of a run's mean generator over its last N epoch-end checkpoints, for several N.

    JAXGAN_MANUAL_DIR=../shared/data/fashion_mnist python benchmarks/averaging.py --workdir W
        [--average 1 5 10 20 30] [--step S] [--num 10000] [--seed 1] [--json out.json]

For each N, ``experiments.generate``'s ``--average N`` (``jaxgan.steps.average_generators``
with standing statistics; N = 1 is the epoch-end checkpoint alone, sampled as
``generate`` samples it) draws the same ``--num`` samples (``experiments.evaluate``'s
noise for ``--seed``), measured as ``experiments.evaluate`` measures them: FCD,
KID, precision and recall against the 10,000 test images. The run needs the
epoch-end checkpoints: train it with ``--keep-every 1``. For the Inception FID
of one N: ``python -m experiments.evaluate --workdir W --average N --inception``.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from etils import epath

from experiments import generate as gen
from jaxgan import data, evaluation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import machine  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, help="a run trained with --keep-every 1")
    parser.add_argument("--average", type=int, nargs="+", default=[1, 5, 10, 20, 30])
    parser.add_argument("--step", type=int, default=0, help="the newest epoch end to average up to (0: the latest)")
    parser.add_argument("--num", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    test = data.load_split("fashion_mnist", "test", manual_dir=os.environ.get("JAXGAN_MANUAL_DIR") or None)["image"]
    fast = evaluation.FastMetrics(test)
    results = {"machine": machine(), "workdir": args.workdir, "num": args.num, "seed": args.seed, "rows": []}
    for average in args.average:
        start = time.perf_counter()
        run = gen.load_run(epath.Path(args.workdir), args.step, average)
        seconds = time.perf_counter() - start  # restoring N checkpoints, averaging, the standing statistics
        row = {"average": average, "step": int(run.state.step), "load_seconds": seconds}
        row.update(fast(gen.draw(run, args.num, args.seed)))
        results["rows"].append(row)
        print(json.dumps(row), flush=True)

    print(f"\n{'epochs':>7s} {'step':>7s} {'FCD':>7s} {'KID x100':>9s} {'precision':>9s} {'recall':>7s} {'load s':>7s}")
    for r in results["rows"]:
        print(
            f"{r['average']:7d} {r['step']:7d} {r['fcd']:7.2f} {r['kid']:9.3f} {r['precision']:9.3f} "
            f"{r['recall']:7.3f} {r['load_seconds']:7.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
