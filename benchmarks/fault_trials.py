"""Kill -9 trials: a run killed at random moments, then rerun, must end bit-identical to an uninterrupted one.

    python benchmarks/fault_trials.py --trials 20 [--kills 2] [--root /tmp/jaxgan-faults] [--json out.json]

Trains a small configuration (256 images, batch 32, 2 epochs, a checkpoint
every step, so that kills often land inside a checkpoint write) once without
interruption, then, per trial, starts the same command in a fresh workdir and
SIGKILLs it ``--kills`` times: alternately at a random moment of the training
phase and the instant an orbax temporary checkpoint folder appears (a write in
progress). A last run goes to the end. The trial counts as bit-identical when
its final state (every array leaf, the key included), its per-step metric
records and its last sample grid equal the reference's.

Reported: trials; kills (landed before the process ended on its own);
partial_writes (kills that left a half-written checkpoint behind); resumed (final
runs that resumed from a checkpoint); corrupt (final runs that found a corrupt
checkpoint and fell back); failed (final runs with a non-zero exit);
bit_identical.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SMALL = [
    "--num-train", "256", "--batch-size", "32", "--epochs", "2",
    "--checkpoint-every", "1", "--log-every", "1", "--eval-samples", "0",
]  # fmt: skip


def train_command(workdir: Path, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "experiments.fashion_dcgan", "--workdir", str(workdir), *args]


def run_to_end(workdir: Path, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(train_command(workdir, args), cwd=REPO, capture_output=True, text=True)


def timed_run(workdir: Path, args: list[str]) -> float:
    """Runs to the end; returns the seconds from the compiled step to the exit (the phase kills aim at)."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(train_command(workdir, args), cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True)
        start = time.monotonic()
        for line in proc.stdout:
            if line.startswith("compiled the train step"):
                start = time.monotonic()
        if proc.wait() != 0:
            err.seek(0)
            raise RuntimeError(f"the reference run failed: {err.read()[-2000:]}")
    return time.monotonic() - start


def _partial_writes(workdir: Path) -> bool:
    folder = workdir / "checkpoints"
    return folder.is_dir() and any("tmp" in p.name for p in folder.iterdir())


def run_killed(workdir: Path, args: list[str], delay: float | None, timeout: float = 120) -> dict:
    """Starts a run and SIGKILLs it ``delay`` s after its step compiled (None: at the first checkpoint write seen)."""
    proc = subprocess.Popen(
        train_command(workdir, args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    for line in proc.stdout:  # blocks until the training loop is about to start (or the run ends)
        if line.startswith("compiled the train step"):
            break
    deadline = time.monotonic() + (timeout if delay is None else delay)
    while proc.poll() is None and time.monotonic() < deadline:
        if delay is None and _partial_writes(workdir):
            break
        time.sleep(0.0005 if delay is None else 0.01)
    killed = proc.poll() is None
    proc.kill()
    proc.wait()
    proc.stdout.close()
    return {"killed": killed, "partial_write": killed and _partial_writes(workdir)}


def fingerprint(workdir: Path) -> tuple:
    """(state leaves, per-step metric records, last sample grid bytes) of a finished run."""
    import jax

    from experiments import generate

    state = generate.load_run(workdir).state
    leaves = [np.asarray(x) for x in jax.tree.leaves(state.replace(key=jax.random.key_data(state.key)))]
    records = [r for r in map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines()) if "epoch" not in r]
    grid = max((workdir / "samples").glob("epoch_*.png")).read_bytes()
    return leaves, records, grid


def same_run(a: tuple, b: tuple) -> bool:
    (leaves_a, records_a, grid_a), (leaves_b, records_b, grid_b) = a, b
    same_leaves = len(leaves_a) == len(leaves_b) and all(
        x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )
    return same_leaves and records_a == records_b and grid_a == grid_b


def run_trials(
    reference: Path, root: Path, args: list[str], trials: int, kills: int, train_seconds: float, seed: int = 0
) -> dict:
    """Runs the trials against the finished run in ``reference`` (same ``args`` up to resumable flags)."""
    rng = random.Random(seed)
    expected = fingerprint(reference)
    counts = dict.fromkeys(
        ("trials", "kills", "partial_writes", "resumed", "corrupt", "failed", "bit_identical"), 0
    )  # fmt: skip
    for trial in range(trials):
        workdir = root / f"trial_{trial:03d}"
        for k in range(kills):
            delay = None if (trial + k) % 2 else rng.uniform(0, train_seconds)
            outcome = run_killed(workdir, args, delay)
            counts["kills"] += outcome["killed"]
            counts["partial_writes"] += outcome["partial_write"]
        final = run_to_end(workdir, args)
        counts["trials"] += 1
        counts["resumed"] += "resumed from step" in final.stdout
        counts["corrupt"] += "warning: checkpoint" in final.stderr
        if final.returncode != 0:
            counts["failed"] += 1
            print(f"trial {trial}: exit {final.returncode}: {final.stderr[-500:]}", file=sys.stderr)
            continue
        identical = same_run(expected, fingerprint(workdir))
        counts["bit_identical"] += identical
        print(f"trial {trial}: {'bit-identical' if identical else 'DIFFERENT'}", flush=True)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--kills", type=int, default=2, help="kills per trial before the run is let finish")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    parser.add_argument("--root", default="", help="folder for the workdirs (default: a new temporary folder)")
    parser.add_argument("--json", default="", help="also write the counts here")
    opts = parser.parse_args()
    if not os.environ.get("JAXGAN_MANUAL_DIR") and not (REPO.parent / "shared").is_dir():
        print("note: no JAXGAN_MANUAL_DIR set; the runs will load Fashion-MNIST through tfds", file=sys.stderr)
    root = Path(opts.root or tempfile.mkdtemp(prefix="jaxgan-faults-"))
    reference = root / "reference"
    train_seconds = timed_run(reference, SMALL)
    print(f"reference run: {train_seconds:.1f} s after compilation", flush=True)
    counts = run_trials(reference, root, SMALL, opts.trials, opts.kills, train_seconds, opts.seed)
    print(" | ".join(f"{k} {v}" for k, v in counts.items()))
    if opts.json:
        Path(opts.json).write_text(json.dumps({**counts, "kills_per_trial": opts.kills, "seed": opts.seed}) + "\n")
    return 0 if counts["bit_identical"] == counts["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
