"""Summarizes a training run's metrics.jsonl: epoch times, throughput, losses and sample-quality metrics.

    python benchmarks/run_summary.py runs/fashion_dcgan/seed0 [--markdown]

The figures in BENCHMARKS.md about the real run come from this script.
"""

import argparse
import json
import statistics
from pathlib import Path

COLUMNS = (
    ("epoch", "{:.0f}"),
    ("epoch_time_s", "{:.0f}"),
    ("img_per_s", "{:.0f}"),
    ("disc/loss", "{:.3f}"),
    ("gen/loss", "{:.3f}"),
    ("disc/real_prob", "{:.3f}"),
    ("disc/fake_prob", "{:.3f}"),
    ("eval/fcd", "{:.2f}"),
    ("eval/kid", "{:.4f}"),
    ("eval/precision", "{:.3f}"),
    ("eval/recall", "{:.3f}"),
    ("eval/class_entropy", "{:.3f}"),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()

    records = [json.loads(line) for line in (args.workdir / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if "epoch_time_s" in r]
    if not epochs:
        raise SystemExit(f"{args.workdir} has no finished epoch yet")
    columns = [(name, fmt) for name, fmt in COLUMNS if any(name in r for r in epochs)]
    sep = " | " if args.markdown else "  "
    print(("| " if args.markdown else "") + sep.join(name for name, _ in columns) + (" |" if args.markdown else ""))
    if args.markdown:
        print("|" + "---|" * len(columns))
    for r in epochs:
        cells = [fmt.format(r[name]) if name in r else "-" for name, fmt in columns]
        print(("| " if args.markdown else "") + sep.join(cells) + (" |" if args.markdown else ""))
    rates = [r["img_per_s"] for r in epochs]
    total = sum(r["epoch_time_s"] for r in epochs)
    print(f"\n{len(epochs)} epochs, {total / 3600:.2f} h of epoch time, median {statistics.median(rates):.0f} img/s")


if __name__ == "__main__":
    main()
