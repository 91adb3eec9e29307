"""How long the training loop's thread waits for the GIL while the GIF and curves are rebuilt beside it.

    python -m benchmarks.gil_stalls [--seconds 20] [--epochs 50] [--json out.json]

The trainer rebuilds a run's progression GIF and curves at every epoch end, away
from the loop. On a GPU an epoch takes about a second and a rebuild longer, so one
is always running, and the loop must still dispatch a call every ~70 ms (100
steps of batch 64 on an H200) to keep the GPU busy. This measures what the loop
sees: the main thread sleeps 1 ms again and again and records how late it wakes,
(1) with nothing beside it, (2) with the rebuild looping on a thread (the trainer
until 2026-11-28), (3) with it looping in a child process
(``fashion_dcgan.Summaries`` now) and (4) beside the other worker thread of the
loop, ``checkpoint.BackgroundSaver``, saving the default run's state one
checkpoint after another (the trainer saves one an epoch on a GPU). The workdir
is a synthetic run of ``--epochs`` epochs (random grids, the trainer's records). Prints the wake-up delays'
median, 99th percentile and maximum, and the time lost to delays over 60 ms.
"""

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from benchmarks.train_step import machine
from experiments import fashion_dcgan as trainer
from jaxgan import checkpoint, plots

SLACK_S = 0.06  # a delay longer than this leaves a GPU with a 70 ms call queued idle


def synthetic_run(workdir: Path, epochs: int, steps_per_epoch: int = 937, log_every: int = 10) -> None:
    """``epochs`` epochs' grids and ``metrics.jsonl`` records, shaped as the default run's."""
    rng = np.random.default_rng(0)
    (workdir / "samples").mkdir(parents=True)
    lines = []
    for epoch in range(1, epochs + 1):
        grid = rng.integers(0, 256, (64, 28, 28, 1), dtype=np.uint8)
        plots.save_grid(grid, workdir / "samples" / f"epoch_{epoch:03d}.png", scale=2)
        losses = {"disc/loss": 1.2, "gen/loss": 0.9, "disc/real_prob": 0.6, "disc/fake_prob": 0.4}
        for step in range((epoch - 1) * steps_per_epoch + log_every, epoch * steps_per_epoch + 1, log_every):
            lines.append({"step": step, **{k: v + rng.normal(0, 0.05) for k, v in losses.items()}})
        metrics = {"fcd": 100 / epoch, "kid": 2 / epoch, "kid_std": 0.1, "precision": 0.7, "recall": 0.6,
                   "class_entropy": 2.2, "classes_under_2pct": 0, "classifier_score": 6.5}  # fmt: skip
        lines.append({"step": epoch * steps_per_epoch, **losses, "epoch": epoch, "epoch_time_s": 0.9,
                      "img_per_s": 66000, **{f"eval/{k}": v for k, v in metrics.items()}})  # fmt: skip
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def wake_up_delays(seconds: float) -> list[float]:
    delays, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        time.sleep(0.001)
        delays.append(time.perf_counter() - t - 0.001)
    return delays


def beside(rebuild_loop, seconds: float) -> tuple[list[float], int]:
    """The delays while ``rebuild_loop(stop, count)`` runs on a thread; and how many rebuilds (saves) it finished."""
    stop, count, errors = threading.Event(), [], []

    def run():
        try:
            rebuild_loop(stop, count)
        except Exception as e:  # re-raised below, once the measurement is over
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        delays = wake_up_delays(seconds)
    finally:
        stop.set()
        worker.join()
    if errors:
        raise errors[0]
    return delays, len(count)


def summary(delays: list[float], rebuilds: int, seconds: float) -> dict:
    ordered = sorted(delays)
    late = [d for d in delays if d > SLACK_S]
    return {
        "wake_ups": len(delays), "rebuilds": rebuilds, "median_ms": 1e3 * statistics.median(ordered),
        "p99_ms": 1e3 * ordered[int(0.99 * len(ordered))], "max_ms": 1e3 * ordered[-1],
        "over_60ms": len(late), "lost_s_per_s": (sum(late) - SLACK_S * len(late)) / seconds,
    }  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time of each setting")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "run"
        synthetic_run(workdir, args.epochs)

        def on_a_thread(stop, count):
            while not stop.is_set():
                plots.save_summaries(workdir)
                count.append(1)

        def in_a_process(stop, count):
            summaries = trainer.Summaries(workdir)
            while not stop.is_set():
                summaries.update()
                summaries.wait()
                count.append(1)

        state = trainer.build_state(trainer.Config(), trainer.DataSpec((28, 28, 1), 28, ()))
        mngr = checkpoint.manager(Path(tmp) / "checkpoints")

        def checkpoints(stop, count):
            saver = checkpoint.BackgroundSaver(mngr)
            while not stop.is_set():
                saver.save(state.replace(step=jnp.asarray(len(count) + 1)))
                saver.wait()
                count.append(1)
            saver.close()

        settings = {
            "alone": (wake_up_delays(args.seconds), 0),
            "thread": beside(on_a_thread, args.seconds),
            "process": beside(in_a_process, args.seconds),
            "checkpoints": beside(checkpoints, args.seconds),
        }
    results = {
        "machine": machine(), "date": time.strftime("%Y-%m-%d"), "seconds": args.seconds, "epochs": args.epochs,
        "settings": {name: summary(d, n, args.seconds) for name, (d, n) in settings.items()},
    }  # fmt: skip
    print(f"{results['machine']}, {results['date']}, a {args.epochs}-epoch run's GIF and curves")
    print(f"{'done':>9} {'beside':<11} {'wake-ups':>9} {'median ms':>10} {'p99 ms':>8} {'max ms':>8} {'>60 ms':>7} "
          f"{'lost s/s':>9}")  # fmt: skip
    for name, r in results["settings"].items():
        print(f"{r['rebuilds']:>9} {name:<11} {r['wake_ups']:>9} {r['median_ms']:>10.2f} {r['p99_ms']:>8.1f} "
              f"{r['max_ms']:>8.1f} {r['over_60ms']:>7} {r['lost_s_per_s']:>9.4f}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
