"""Prints the eval.json files of `experiments.evaluate` as one markdown table, beside the published FIDs.

python benchmarks/quality_table.py NAME=path/to/samples.eval.json [NAME=...]
"""

import json
import sys
from pathlib import Path

from jaxgan.evaluation import PUBLISHED_FID

COLUMNS = ("fid", "fcd", "kid", "precision", "recall", "class_entropy", "classifier_score")


def main(args: list[str]) -> None:
    if not args or any("=" not in a for a in args):
        sys.exit(__doc__)
    print("| samples | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for arg in args:
        name, path = arg.split("=", 1)
        results = json.loads(Path(path).read_text())
        cells = [f"{results[c]:.2f}" if c in results else "-" for c in COLUMNS]
        print(f"| {name} ({results['num']:,} images) | " + " | ".join(cells) + " |")
    for name, fid in PUBLISHED_FID.items():
        print(f"| {name}, published | {fid} |" + " |" * (len(COLUMNS) - 1))


if __name__ == "__main__":
    main(sys.argv[1:])
