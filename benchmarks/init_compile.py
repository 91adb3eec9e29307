"""Compile time of the networks' kernel initialization: Flax's initializers vs jaxgan's flat draws.

    python benchmarks/init_compile.py [--repeats 5] [--json results.json]

For each architecture, one jitted function draws every kernel of G and D (the
initializer each network uses: Xavier-uniform for the tutorial nets, N(0, 0.02)
for Radford's); its XLA compile time is measured with Flax's initializers and
with ``jaxgan.models``' (the same values, drawn as flat vectors), alternating,
median of the repeats. Also the end-to-end ``build_state`` (one jitted init of
the whole state) per architecture, compiled fresh each repeat.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import flax.linen as nn
import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import machine  # noqa: E402

from experiments import fashion_dcgan as trainer  # noqa: E402
from jaxgan import models  # noqa: E402

INITIALIZERS = {  # arch -> (Flax's, jaxgan's)
    "tutorial": (nn.initializers.xavier_uniform(), models.xavier_uniform()),
    "dcgan64": (nn.initializers.normal(0.02), models.normal(0.02)),
    "dcgan128": (nn.initializers.normal(0.02), models.normal(0.02)),
}


def kernel_shapes(cfg: trainer.Config) -> list[tuple[int, ...]]:
    """Shapes of every conv and dense kernel of the run's G and D."""
    state = jax.eval_shape(lambda: trainer.build_state(cfg))
    leaves = jax.tree.leaves_with_path({"g": state.gen_params, "d": state.disc_params})
    return [leaf.shape for path, leaf in leaves if getattr(path[-1], "key", None) == "kernel"]


def compile_seconds(init, shapes) -> float:
    def draw(key):
        return [init(jax.random.fold_in(key, i), shape) for i, shape in enumerate(shapes)]

    lowered = jax.jit(draw).lower(jax.random.key(0))  # a new function each time: nothing cached in-process
    t0 = time.perf_counter()
    lowered.compile()
    return time.perf_counter() - t0


def build_seconds(cfg: trainer.Config) -> float:
    jax.clear_caches()
    t0 = time.perf_counter()
    jax.block_until_ready(trainer.build_state(cfg))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    rows = []
    for arch, (flax_init, ours) in INITIALIZERS.items():
        cfg = trainer.Config(arch=arch)
        shapes = kernel_shapes(cfg)
        times = {"flax": [], "jaxgan": []}
        for _ in range(args.repeats):
            times["flax"].append(compile_seconds(flax_init, shapes))
            times["jaxgan"].append(compile_seconds(ours, shapes))
        build = [build_seconds(cfg) for _ in range(args.repeats)]
        row = {
            "arch": arch,
            "kernels": len(shapes),
            "flax_compile_s": statistics.median(times["flax"]),
            "jaxgan_compile_s": statistics.median(times["jaxgan"]),
            "build_state_s": statistics.median(build),
        }
        row["speedup"] = row["flax_compile_s"] / row["jaxgan_compile_s"]
        rows.append(row)
        print(
            f"{arch:9s} {row['kernels']:2d} kernels: draw compile Flax {row['flax_compile_s']:.2f} s, "
            f"jaxgan {row['jaxgan_compile_s']:.2f} s ({row['speedup']:.1f}x); "
            f"build_state {row['build_state_s']:.2f} s",
            flush=True,
        )
    if args.json:
        meta = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "jax": jax.__version__}
        meta["repeats"] = args.repeats
        with open(args.json, "w") as f:
            json.dump({**meta, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
