"""Runs an experiment module on a machine without TensorFlow, from split arrays saved beforehand.

The GPU machines this project is measured on have JAX but neither TensorFlow nor
tensorflow-datasets, and no network. This wrapper saves the tfds splits as
``.npz`` where tfds works, and replays them there through ``jaxgan.data.load_split``:

    python -m benchmarks.offline_data export --out .gpu/data          # here, with tfds
    python -m benchmarks.offline_data run .gpu/data experiments.fashion_dcgan --seed 0   # there

The arrays are exactly what tfds returns (same order), so a run there sees the
same data as a run here.
"""

import re
import runpy
import sys
from pathlib import Path

import numpy as np

from jaxgan import data

SPLITS = ("train", "test")


def export(out: Path, name: str = "fashion_mnist") -> None:
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        arrays = data.load_split(name, split)
        np.savez_compressed(out / f"{name}_{split}.npz", **arrays)
        print(f"wrote {out / f'{name}_{split}.npz'}: {arrays['image'].shape}")


def replay(folder: Path):
    """A stand-in for ``data.load_split`` reading ``{name}_{split}.npz`` (``split[:N]`` slices)."""

    def load_split(name, split, data_dir=None, manual_dir=None, size=None):
        if size is not None:
            raise ValueError(f"saved splits are stored at their own size; cannot resize to {size}")
        match = re.fullmatch(r"(\w+)(?:\[:(\d+)\])?", split)
        base, limit = match.group(1), match.group(2)
        with np.load(folder / f"{name}_{base}.npz") as arrays:
            return {k: arrays[k][: int(limit) if limit else None] for k in ("image", "label")}

    return load_split


def main(argv: list[str]) -> None:
    if argv[:1] == ["export"] and argv[1:2] == ["--out"] and len(argv) == 3:
        export(Path(argv[2]))
    elif argv[:1] == ["run"] and len(argv) >= 3:
        data.load_split = replay(Path(argv[1]))
        sys.argv = [argv[2], *argv[3:]]
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
