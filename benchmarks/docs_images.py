"""Copies a run's figures into docs/ at sizes fit for the repository (each under 1 MB).

    python benchmarks/docs_images.py /path/to/workdir fashion_dcgan [--frames 11]

Writes ``docs/<prefix>_samples.png`` (the last epoch's grid), ``_progression.gif``
(evenly spaced epochs, the last one included, at the grids' native pixel size),
``_loss_curves.png`` and ``_metrics_curves.png`` (when the run has them).
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from jaxgan import plots

DOCS = Path(__file__).resolve().parent.parent / "docs"


def progression_frames(grids: list[Path], count: int) -> list[Path]:
    """``count`` grids evenly spaced over training, always ending with the last."""
    picks = np.unique(np.linspace(0, len(grids) - 1, min(count, len(grids))).round().astype(int))
    return [grids[i] for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("prefix")
    parser.add_argument("--frames", type=int, default=11)
    args = parser.parse_args()
    grids = sorted((args.workdir / "samples").glob("epoch_*.png"))
    if not grids:
        raise SystemExit(f"{args.workdir} has no samples/epoch_*.png")
    shutil.copyfile(grids[-1], DOCS / f"{args.prefix}_samples.png")
    with tempfile.TemporaryDirectory() as tmp:
        small = []
        for i, path in enumerate(progression_frames(grids, args.frames)):
            with Image.open(path) as im:  # the trainer draws grids at 2x: back to one pixel per pixel
                small.append(Path(tmp) / f"{i:03d}.png")
                im.resize((im.width // 2, im.height // 2), Image.NEAREST).save(small[-1])
        plots.save_gif(small, DOCS / f"{args.prefix}_progression.gif", duration_ms=400)
    for name in ("loss_curves", "metrics_curves"):
        if (args.workdir / f"{name}.png").is_file():
            shutil.copyfile(args.workdir / f"{name}.png", DOCS / f"{args.prefix}_{name}.png")
    for path in sorted(DOCS.glob(f"{args.prefix}_*")):
        print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
