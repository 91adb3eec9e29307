"""XLA:CPU's own convolutions vs YNNPACK's (jaxlib's default), side by side in one process.

    python benchmarks/cpu_convolutions.py [--repeats 5] [--inception-weights NPZ] [--json out.json]

Each program is compiled twice with ``compiler_options`` that differ only in
whether convolutions are among XLA:CPU's YNNPACK fusions (``--xla_cpu_experimental_
ynn_fusion_type``; the other default fusion types stay), then both run in turns,
median of ``--repeats``. Programs: the tutorial DCGAN's jitted train step and the
Radford 64x64 one (Adam 2e-4, beta1 0.5), batch 64, images/s; the FID Inception
network on 50 images and the metrics' Fashion-MNIST classifier on 2,000, seconds.
What the experiments run with is :mod:`jaxgan.xla_flags`; the script checks that
it compiles the train step like the ``xla`` variant here.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from jaxgan import xla_flags

xla_flags.use_xla_cpu_convolutions()  # this process's default: what the experiments run with

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import machine  # noqa: E402

from jaxgan import classifier, inception, models, steps  # noqa: E402
from jaxgan.state import create_state  # noqa: E402

_TYPES = "LIBRARY_FUSION_TYPE_"
VARIANTS = {  # jaxlib 0.10.2's default YNN fusion types, with and without convolutions
    "ynnpack": {xla_flags.YNN_FUSIONS: f"{_TYPES}INDIVIDUAL_DOT,{_TYPES}INDIVIDUAL_CONVOLUTION,{_TYPES}REDUCE"},
    "xla": {xla_flags.YNN_FUSIONS: f"{_TYPES}INDIVIDUAL_DOT,{_TYPES}REDUCE"},
}
SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "models" / "fid_inception_2015_12_05_pool3.npz"


def train_step_program(arch: str):
    """``(compile(options) -> run(), images per run, lowered)`` for a jitted train step at batch 64."""
    if arch == "tutorial":
        nets, tx, shape = (models.Generator(), models.Discriminator()), optax.adam(1e-4), (28, 28, 1)
    else:
        nets, tx, shape = (models.DCGANGenerator(), models.DCGANDiscriminator()), optax.adam(2e-4, b1=0.5), (64, 64, 1)
    state = create_state(jax.random.key(0), *nets, tx, tx, 100, shape)
    batch = {"image": jax.random.uniform(jax.random.key(1), (64, *shape), minval=-1, maxval=1)}
    lowered = jax.jit(steps.train_step).lower(state, batch)
    steps_per_run = 4

    def build(options):
        compiled = lowered.compile(compiler_options=options)

        def run():
            for _ in range(steps_per_run):
                _, metrics = compiled(state, batch)
            jax.block_until_ready(metrics)

        return run

    return build, 64 * steps_per_run, lowered


def features_program(net: str, weights: Path):
    """``(compile(options) -> run(), images per run, lowered)`` for a metrics network's forward pass."""
    rng = np.random.default_rng(0)
    if net == "inception":
        extractor = inception.FeatureExtractor(str(weights), batch_size=50)
        fn, params, images = extractor._features, extractor.params, rng.integers(0, 256, (50, 28, 28, 1), np.uint8)
    else:
        feature_classifier = classifier.FeatureClassifier(batch_size=2000)
        fn, params = feature_classifier._run, feature_classifier.variables
        images = rng.integers(0, 256, (2000, 28, 28, 1), np.uint8)
    lowered = fn.lower(params, images)

    def build(options):
        compiled = lowered.compile(compiler_options=options)
        return lambda: jax.block_until_ready(compiled(params, images))

    return build, len(images), lowered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--inception-weights", default=str(SHARED_WEIGHTS))
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    programs = {
        "tutorial train step (img/s)": train_step_program("tutorial"),
        "dcgan64 train step (img/s)": train_step_program("dcgan64"),
        "classifier, 2,000 images (s)": features_program("classifier", Path(args.inception_weights)),
    }
    if Path(args.inception_weights).is_file():
        programs["FID Inception, 50 images (s)"] = features_program("inception", Path(args.inception_weights))
    else:
        print(f"no Inception weights at {args.inception_weights}: skipping the FID network")

    results = {}
    for name, (build, count, lowered) in programs.items():
        runs = {variant: build(options) for variant, options in VARIANTS.items()}
        ynn_ops = {v: lowered.compile(compiler_options=o).as_text().count("__ynn_fusion") for v, o in VARIANTS.items()}
        if name.startswith("tutorial") and lowered.compile().as_text().count("__ynn_fusion") != ynn_ops["xla"]:
            raise SystemExit("jaxgan.xla_flags does not compile like the 'xla' variant: update VARIANTS")
        times = {variant: [] for variant in runs}
        for run in runs.values():
            run()  # warm-up
        for _ in range(args.repeats):
            for variant, run in runs.items():
                t0 = time.perf_counter()
                run()
                times[variant].append(time.perf_counter() - t0)
        medians = {v: statistics.median(t) for v, t in times.items()}
        per_second = "img/s" in name
        shown = {v: count / m if per_second else m for v, m in medians.items()}
        speedup = medians["ynnpack"] / medians["xla"]
        results[name] = {"median_s": medians, "shown": shown, "speedup": speedup, "ynn_fusions": ynn_ops}
        print(f"{name}: ynnpack {shown['ynnpack']:.3g}, xla {shown['xla']:.3g} -> {speedup:.2f}x", flush=True)

    print("\n| program | YNNPACK convolutions (jaxlib's default) | XLA's own (jaxgan.xla_flags) | speed-up |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['shown']['ynnpack']:.3g} | {r['shown']['xla']:.3g} | {r['speedup']:.2f}x |")
    if args.json:
        out = {"machine": machine(), "jax": jax.__version__, "repeats": args.repeats, "results": results}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
