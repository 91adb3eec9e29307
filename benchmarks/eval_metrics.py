"""What the trainer's per-epoch metrics cost: the epoch-end evaluation, whole and by part.

    JAXGAN_MANUAL_DIR=../shared/data/fashion_mnist python benchmarks/eval_metrics.py [--repeats 5] [--json out.json]

``experiments.fashion_dcgan`` measures ``--eval-samples`` (2,000) samples against
the 10,000 test images at every epoch end (``--eval-every 1``) while training
waits. Timed here as it runs them: building ``FastMetrics`` (once, at start-up:
the classifier's features of the test set), the first epoch-end evaluation and
the median of the next ``--repeats`` (the first may fill caches), and the parts
of one: drawing the samples from the untrained generator (the work does not
depend on the weights), the classifier's features, KID as a one-off
``metrics.kid`` call, precision/recall and the FCD's Fréchet distance.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from experiments import fashion_dcgan
from jaxgan import data, metrics
from jaxgan.evaluation import FastMetrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import machine  # noqa: E402
from transposed_conv import timed  # noqa: E402


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=fashion_dcgan.Config.eval_samples)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    cfg = fashion_dcgan.Config()
    test = data.load_split("fashion_mnist", "test", manual_dir=os.environ.get("JAXGAN_MANUAL_DIR") or None)["image"]
    state = fashion_dcgan.build_state(cfg)
    noise = fashion_dcgan.sample_noise(cfg, args.samples, seed=1)
    fashion_dcgan.draw_images(state, noise)  # compiles the sampler, as the trainer's first grid does

    fast = None

    def build():
        nonlocal fast
        fast = FastMetrics(test, kid_subsets=50)  # the trainer's setting

    results = {"machine": machine(), "samples": args.samples, "build_fast_metrics_s": seconds(build)}
    evaluate = lambda: fashion_dcgan.eval_metrics(fast, state, noise, None)  # noqa: E731
    results["first_eval_s"] = seconds(evaluate)
    fake = fashion_dcgan.draw_images(state, noise)
    _, features = fast.classifier(fake)
    parts = {
        "eval": evaluate,
        "draw samples": lambda: fashion_dcgan.draw_images(state, noise),
        "classifier": lambda: fast.classifier(fake),
        "kid (one-off call)": lambda: metrics.kid(fast.real_features, features, 50, min(1000, args.samples)),
        "precision/recall": lambda: metrics.precision_recall(fast.real_features[: args.samples], features, k=3),
        "frechet distance": lambda: metrics.frechet_distance(*fast.real_stats, *metrics.gaussian_stats(features)),
    }
    median, _ = timed(parts, {name: () for name in parts}, args.repeats, calls=1)  # the parts take turns
    results["median_s"] = median

    print(f"{results['machine']}; {args.samples} samples against {len(test)} test images")
    built, first = results["build_fast_metrics_s"], results["first_eval_s"]
    print(f"FastMetrics built in {built:.2f} s; first evaluation {first:.2f} s")
    for name, median in results["median_s"].items():
        print(f"  {name:<20} {median:7.3f} s (median of {args.repeats})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
