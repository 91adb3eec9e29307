"""Seconds to import the trainer and its TensorBoard writer in a fresh process, with and without PyTorch.

tensorboardX's writer imports torch where it is installed; ``jaxgan.logs.summary_writer``
keeps it out. Both variants run in one invocation, alternating, each a fresh
``python -c``; the ``torch`` variant imports tensorboardX first, as before that change,
which loads torch. Medians of ``--repeats``.

    python benchmarks/import_time.py --repeats 7 --json benchmarks/results_import_time_<machine>_<date>.json
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import machine  # noqa: E402

RUN_START = "import experiments.fashion_dcgan; from jaxgan import logs; logs.summary_writer()"
VARIANTS = {
    "without torch (jaxgan.logs.summary_writer)": RUN_START,
    "with torch (tensorboardX imported first)": "import tensorboardX; " + RUN_START,
}
REPO = Path(__file__).resolve().parent.parent


def seconds(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    seconds("import experiments.fashion_dcgan")  # warm the file cache
    times = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, code in VARIANTS.items():
            times[name].append(seconds(code))
    medians = {name: statistics.median(t) for name, t in times.items()}
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "seconds": times, "median_s": medians}
    print(f"{results['machine']}, {results['date']}; medians of {args.repeats}:")
    for name, m in medians.items():
        print(f"  {name}: {m:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
