"""Start-up of the trainer's CLI: cold, with the decoded-split cache, and with the compilation cache too.

    python benchmarks/startup.py --data-dir DIR [--repeats 3] [--json out.json] [-- extra trainer flags]

Runs ``python -m experiments.fashion_dcgan --epochs 1 --num-train 640`` (ten
steps) in a fresh process per run, its workdir in a temporary folder, cycling
through three variants so that machine noise hits all alike:

- ``cold``: the split's ``jaxgan-*.npz`` caches deleted first, so it is decoded
  through tf.data (which imports TensorFlow), and JAX's persistent compilation
  cache off (``JAX_ENABLE_COMPILATION_CACHE=false``): a first run;
- ``split cache``: the split read from its cache (:class:`jaxgan.data.SplitCache`),
  every program compiled;
- ``both caches``: also the compiled programs loaded from a compilation cache
  (a private folder, warmed by a first run): a resumed or repeated run.

DIR is a tfds data dir where Fashion-MNIST is already prepared. Per run it
records the seconds from launch to the run's ``config.json`` (written once the
imports, the data and the test-set features of the per-epoch metrics are
ready), to the "compiled the train step" line, and to the process's exit; it
prints the medians.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def one_run(data_dir: str, extra: list[str], env: dict[str, str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "run"
        command = [sys.executable, "-m", "experiments.fashion_dcgan", "--epochs", "1", "--num-train", "640"]
        command += ["--data-dir", data_dir, "--workdir", str(workdir), *extra]
        start = time.time()
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        compiled = None
        for line in proc.stdout:
            if line.startswith("compiled the train step") and compiled is None:
                compiled = time.time() - start
        if proc.wait():
            raise SystemExit(f"the run failed (exit {proc.returncode}): {' '.join(command)}")
        end = time.time() - start
        config = (workdir / "config.json").stat().st_mtime_ns / 1e9 - start
    return {"to_config_s": config, "to_compiled_s": compiled, "total_s": end}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="a tfds data dir with fashion_mnist prepared")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default="")
    parser.add_argument("extra", nargs="*", help="more trainer flags, after --")
    args = parser.parse_args()
    version_dirs = list(Path(args.data_dir).glob("fashion_mnist/*/dataset_info.json"))
    if not version_dirs:
        parser.error(f"fashion_mnist is not prepared in {args.data_dir}")

    base = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    no_xla_cache = {**base, "JAX_ENABLE_COMPILATION_CACHE": "false"}
    runs = {"cold": [], "split cache": [], "both caches": []}
    with tempfile.TemporaryDirectory() as xla_cache:
        with_xla_cache = {**base, "JAX_COMPILATION_CACHE_DIR": xla_cache}
        env = {"cold": no_xla_cache, "split cache": no_xla_cache, "both caches": with_xla_cache}
        one_run(args.data_dir, args.extra, with_xla_cache)  # writes the split's cache, warms both caches
        for repeat in range(args.repeats):
            for variant, times in runs.items():
                if variant == "cold":
                    for cache in version_dirs[0].parent.glob("jaxgan-*.npz"):
                        cache.unlink()
                times.append(one_run(args.data_dir, args.extra, env[variant]))
                print(f"repeat {repeat + 1} {variant}: {times[-1]}", flush=True)

    medians = {v: {k: statistics.median(t[k] for t in times) for k in times[0]} for v, times in runs.items()}
    print(f"\n| | to config.json | to compiled step | whole run ({args.repeats} runs, medians) |")
    print("|---|---:|---:|---:|")
    for variant, m in medians.items():
        print(f"| {variant} | {m['to_config_s']:.1f} s | {m['to_compiled_s']:.1f} s | {m['total_s']:.1f} s |")
    if args.json:
        result = {"machine": machine(), "extra_flags": args.extra, "runs": runs, "medians": medians}
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
