"""End-to-end runs of the real command lines on a few hundred real images."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from benchmarks import fault_trials
from experiments import evaluate as ev
from experiments import fashion_dcgan as trainer
from experiments import generate as gen
from tests import fake_gcs
from tests.conftest import REPO
from tests.helpers import NO_EVAL, TINY, assert_trees_equal, command, final_state, run, run_here, step_records


def assert_same_run(a, b):
    assert_trees_equal(final_state(a), final_state(b))
    assert step_records(a) == step_records(b)
    assert (a / "samples" / "epoch_002.png").read_bytes() == (b / "samples" / "epoch_002.png").read_bytes()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, data_dir, manual_dir):
    workdir = tmp_path_factory.mktemp("ref")
    run("fashion_dcgan", "--workdir", workdir, "--epochs", 2, *TINY, data_dir=data_dir, manual_dir=manual_dir)
    return workdir


def test_tiny_run_writes_every_output(reference_run):
    w = reference_run
    for name in ("config.json", "metrics.jsonl", "progression.gif", "loss_curves.png"):
        assert (w / name).is_file(), name
    assert sorted(p.name for p in (w / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert any(p.name.startswith("events.out.tfevents") for p in (w / "tensorboard").iterdir())
    records = [json.loads(line) for line in (w / "metrics.jsonl").read_text().splitlines()]
    per_step = [r for r in records if "epoch_time_s" not in r]
    per_epoch = [r for r in records if "epoch_time_s" in r]
    assert [r["step"] for r in per_step] == list(range(1, 9))
    assert [r["epoch"] for r in per_epoch] == [1, 2]
    for r in per_epoch:
        assert {"disc/loss", "gen/loss", "disc/real_prob", "disc/fake_prob", "img_per_s"} <= set(r)
        assert {"eval/fcd", "eval/kid", "eval/precision", "eval/recall", "eval/class_entropy"} <= set(r)
    assert (w / "metrics_curves.png").is_file()
    assert int(final_state(w).step) == 8
    assert json.loads((w / "config.json").read_text())["steps_per_call"] == 1  # the default, 0, on a CPU


def test_killed_and_resumed_run_is_bit_identical(reference_run, tmp_path, data_dir, manual_dir):
    args = ["--workdir", tmp_path, "--epochs", 2, *NO_EVAL, "--data-dir", data_dir]
    env = {**os.environ, "JAXGAN_MANUAL_DIR": manual_dir}
    proc = subprocess.Popen(command("fashion_dcgan", *args), cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    metrics = tmp_path / "metrics.jsonl"
    while proc.poll() is None and not (metrics.exists() and metrics.read_text().count("\n") >= 4):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # wherever it lands, the end result must not change
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert "stopped by SIGTERM" in out or "epoch 2/2" in out
    resumed = run("fashion_dcgan", *args, manual_dir=manual_dir)
    assert_same_run(reference_run, tmp_path)
    assert "resumed from step" in resumed.stdout


def test_larger_epochs_continues_a_finished_run(reference_run, tmp_path, data_dir, manual_dir):
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    run_here(trainer.main, "--workdir", tmp_path, "--epochs", 1, *NO_EVAL, data_dir=data_dir, manual_dir=manual_dir)
    assert int(final_state(tmp_path).step) == 4
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers  # the caller's, back
    run_here(trainer.main, "--workdir", tmp_path, "--epochs", 2, *NO_EVAL, data_dir=data_dir, manual_dir=manual_dir)
    assert_same_run(reference_run, tmp_path)


def test_kill_9_trials_end_bit_identical(reference_run, tmp_path, data_dir, manual_dir, monkeypatch):
    """Two trials of benchmarks/fault_trials.py (it runs 20 with -m slow): one kill at a random
    moment, one the instant a checkpoint write is under way; each rerun must match the reference."""
    monkeypatch.setenv("JAXGAN_MANUAL_DIR", manual_dir)
    args = ["--epochs", "2", *map(str, NO_EVAL), "--checkpoint-every", "1", "--data-dir", data_dir]
    counts = fault_trials.run_trials(reference_run, tmp_path, args, trials=2, kills=1, train_seconds=3.0)
    assert counts["failed"] == 0 and counts["bit_identical"] == counts["trials"] == 2, counts


@pytest.mark.slow
def test_twenty_kill_9_trials(tmp_path, manual_dir, monkeypatch):
    monkeypatch.setenv("JAXGAN_MANUAL_DIR", manual_dir)
    reference = tmp_path / "reference"
    seconds = fault_trials.timed_run(reference, fault_trials.SMALL)
    counts = fault_trials.run_trials(reference, tmp_path, fault_trials.SMALL, trials=20, kills=2, train_seconds=seconds)
    assert counts["failed"] == 0 and counts["bit_identical"] == counts["trials"] == 20, counts
    assert counts["partial_writes"] > 0, counts  # some kills did land inside a checkpoint write


def test_a_corrupt_latest_checkpoint_is_skipped_with_a_warning(reference_run, tmp_path, data_dir, manual_dir):
    data = {"data_dir": data_dir, "manual_dir": manual_dir}
    run_here(trainer.main, "--workdir", tmp_path, "--epochs", 1, *NO_EVAL, **data)
    latest = tmp_path / "checkpoints" / "4"
    biggest = max((p for p in latest.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    os.truncate(biggest, biggest.stat().st_size // 2)
    resumed = run("fashion_dcgan", "--workdir", tmp_path, "--epochs", 2, *NO_EVAL, **data)
    warning, fell_back = resumed.stderr.splitlines()  # and nothing else: orbax's abandoned reads are muted
    assert warning.startswith("warning: checkpoint 4") and "unreadable (ValueError: OUT_OF_RANGE" in warning
    assert fell_back.startswith("warning: fell back to checkpoint 3")
    assert "resumed from step 3" in resumed.stdout
    assert_same_run(reference_run, tmp_path)
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "corrupt_checkpoints").iterdir()) == ["4", "README.txt"]


@pytest.mark.slow
def test_two_process_training_matches_one_process(reference_run, tmp_path, data_dir, manual_dir):
    """The real CLI as a 2-process job (SLURM-style variables, as a cluster scheduler sets them)."""
    args = command("fashion_dcgan", "--workdir", tmp_path, "--epochs", 2, *NO_EVAL, "--data-dir", data_dir)
    procs = []
    for rank in (0, 1):
        slurm = {"SLURM_JOB_ID": "4242", "SLURM_STEP_NODELIST": "localhost", "SLURM_NTASKS": "2"}
        env = {**os.environ, **slurm, "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank)}
        env["JAXGAN_MANUAL_DIR"] = manual_dir
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        procs.append(subprocess.Popen([*args, "--distributed"], cwd=REPO, env=env, **pipes))
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    a, b = final_state(tmp_path), final_state(reference_run)
    assert int(a.step) == int(b.step) == 8
    for x, y in zip(jax.tree.leaves(a.gen_params), jax.tree.leaves(b.gen_params), strict=True):
        np.testing.assert_allclose(x, y, atol=1e-4, rtol=0)


def test_another_config_in_the_workdir_is_refused(reference_run):
    before = (reference_run / "config.json").read_text()
    proc = run("fashion_dcgan", "--workdir", reference_run, "--epochs", 2, *TINY, "--learning-rate", 0.001, check=False)
    assert proc.returncode == 2
    assert "learning_rate: 0.0001 -> 0.001" in proc.stderr and "--overwrite" in proc.stderr
    assert (reference_run / "config.json").read_text() == before


def test_overwrite_deletes_the_other_run_and_starts_over(reference_run, tmp_path, data_dir, manual_dir):
    shutil.copytree(reference_run, tmp_path / "run")
    args = ["--workdir", tmp_path / "run", "--epochs", 1, "--num-train", 64, "--batch-size", 32, "--eval-samples", 0]
    run_here(trainer.main, *args, "--learning-rate", 0.001, "--overwrite", data_dir=data_dir, manual_dir=manual_dir)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["learning_rate"] == 0.001
    assert int(final_state(tmp_path / "run").step) == 2  # a new run, not a continuation of step 8
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["epoch_001.png"]


def test_generate_is_deterministic(reference_run, tmp_path):
    run("generate", "--workdir", reference_run, "--num", 10, "--seed", 3, "--out", tmp_path / "a.npz")
    for name in ("b.npz", "a.png", "b.png"):  # the same main(), in this process
        args = ["--workdir", str(reference_run), "--num", "10", "--seed", "3", "--out", str(tmp_path / name)]
        assert gen.main(args) == 0
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    images = np.load(tmp_path / "a.npz")["images"]
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.uint8
    gen.main(["--workdir", str(reference_run), "--num", "10", "--seed", "4", "--out", str(tmp_path / "c.npz")])
    assert not np.array_equal(np.load(tmp_path / "c.npz")["images"], images)


@pytest.fixture
def gcs():
    with fake_gcs.FakeGCS() as server:
        yield server


def test_a_gs_workdir_resumes_and_ends_as_a_local_run(reference_run, gcs, tmp_path, data_dir, manual_dir):
    """--workdir gs://...: checkpoints (orbax through tensorstore), metrics, images and TensorBoard in the
    bucket; a run continued there past a corrupt checkpoint ends bit-identical to the local reference, and
    generates from it."""
    env = fake_gcs.client_env(gcs.url)
    args = ["--workdir", "gs://bucket/run", *TINY]
    run("fashion_dcgan", *args, "--epochs", 1, data_dir=data_dir, manual_dir=manual_dir, env=env)
    objects = gcs.store.objects
    biggest = max((k for k in objects if k[1].startswith("run/checkpoints/4/")), key=lambda k: len(objects[k][1]))
    generation, data, content_type = objects[biggest]
    objects[biggest] = (generation, data[: len(data) // 2], content_type)
    resumed = run("fashion_dcgan", *args, "--epochs", 2, data_dir=data_dir, manual_dir=manual_dir, env=env)
    assert "warning: checkpoint 4" in resumed.stderr and "fell back to checkpoint 3" in resumed.stderr
    assert "resumed from step 3 in gs://bucket/run" in resumed.stdout
    out = ["--num", 10, "--seed", 3, "--out"]
    run("generate", "--workdir", "gs://bucket/run", *out, "gs://bucket/samples.npz", env=env)
    run("generate", "--workdir", reference_run, *out, tmp_path / "samples.npz")

    local = tmp_path / "copy"
    for (_, name), (_, data, _) in gcs.store.objects.items():  # the bucket's objects, as files
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    assert_same_run(reference_run, local / "run")
    for name in ("metrics_curves.png", "progression.gif", "samples/epoch_001.png"):
        assert (local / "run" / name).is_file(), name
    assert len(list((local / "run" / "tensorboard").iterdir())) == 2  # one events file per invocation
    assert sorted(p.name for p in (local / "run" / "checkpoints").iterdir()) == ["4", "6", "8"]  # 3 deleted
    aside = sorted(p.name.split("-")[0] for p in (local / "run" / "corrupt_checkpoints").iterdir())
    assert aside == ["4", "README.txt"]
    assert (local / "samples.npz").read_bytes() == (tmp_path / "samples.npz").read_bytes()


def test_generate_from_a_checkpoint_of_another_model_fails_clearly(reference_run, tmp_path, capsys):
    shutil.copytree(reference_run, tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    (tmp_path / "run" / "config.json").write_text(json.dumps({**config, "noise_dim": 64}))
    assert gen.main(["--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "x.png")]) == 2
    assert "does not fit this model (first difference: gen_" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    listing = sorted(p.name for p in (reference_run / "checkpoints").iterdir())
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == listing


def test_generate_interpolation_gif(reference_run, tmp_path):
    args = ["--workdir", str(reference_run), "--num", "4", "--interpolate", "3", "--seed", "1"]
    assert gen.main([*args, "--out", str(tmp_path / "a.gif")]) == 0
    assert gen.main([*args, "--out", str(tmp_path / "b.gif")]) == 0
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 3 * gen.FRAMES_PER_SEGMENT
        assert gif.size == (2 * (2 * 30 + 2), 2 * (2 * 30 + 2))  # a 2x2 grid of 28-pixel images, doubled
    assert gen.main([*args, "--out", str(tmp_path / "c.png")]) == 2  # a walk is a GIF


def test_evaluate_on_an_empty_workdir_or_another_model_fails_clearly(reference_run, tmp_path, capsys):
    assert ev.main(["--workdir", str(tmp_path)]) == 2
    assert "holds no training run" in capsys.readouterr().err
    shutil.copytree(reference_run, tmp_path / "run", ignore=shutil.ignore_patterns("eval.json"))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    (tmp_path / "run" / "config.json").write_text(json.dumps({**config, "arch": "dcgan64"}))
    assert ev.main(["--workdir", str(tmp_path / "run")]) == 2
    assert "does not fit this model" in capsys.readouterr().err
    assert not (tmp_path / "run" / "eval.json").exists()


def test_evaluate_a_run_prints_json_and_writes_eval_json(reference_run, data_dir, manual_dir):
    proc = run(
        "evaluate", "--workdir", reference_run, "--num", 100, "--json", "--data-dir", data_dir, manual_dir=manual_dir
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["num"] == 100 and result["step"] == 8
    for name in ("fcd", "kid", "kid_std", "precision", "recall", "class_entropy", "classifier_score"):
        assert np.isfinite(result[name]), name
    assert json.loads((reference_run / "eval.json").read_text()) == result
    assert "fcd" in proc.stdout.splitlines()[1]


def test_class_needs_a_conditional_run(reference_run, tmp_path, capsys):
    assert gen.main(["--workdir", str(reference_run), "--class", "7", "--out", str(tmp_path / "x.png")]) == 2
    assert "--class needs a class-conditional run" in capsys.readouterr().err


def test_a_calls_metrics_are_pulled_after_the_next_call_is_dispatched(
    reference_run, tmp_path, data_dir, manual_dir, monkeypatch
):
    """The host logs call k while call k+1 runs (pulling right after a dispatch idles an accelerator);
    every per-step record is still written, the same as the reference run's."""
    events, accumulate, device_get = [], trainer.accumulate, jax.device_get

    def dispatched(total, metrics):  # the trainer accumulates each call's metrics right after dispatching it
        events.append("dispatch")
        return accumulate(total, metrics)

    def pulled(tree):
        if isinstance(tree, dict) and np.ndim(tree.get("disc/loss")) == 1:  # a call's per-step metrics
            events.append("pull")
        return device_get(tree)

    monkeypatch.setattr(trainer, "accumulate", dispatched)
    monkeypatch.setattr(jax, "device_get", pulled)
    w = tmp_path / "run"
    args = ["--workdir", w, "--epochs", 2, *NO_EVAL, "--data-dir", data_dir, "--manual-dir", manual_dir]
    assert trainer.main(list(map(str, args))) == 0
    assert events[:3] == ["dispatch", "dispatch", "pull"]
    assert events.count("pull") == events.count("dispatch") == 8
    assert step_records(w) == step_records(reference_run)


def test_summary_rebuilds_never_hold_up_training(tmp_path):
    """Updates during a rebuild return at once and fold into one more rebuild, done by close at the latest;
    each runs in a child process, away from the training loop's GIL."""
    release, log = tmp_path / "release", tmp_path / "rebuilds"
    rebuild = (
        "import os, time\n"
        f"end = time.time() + 30\nwhile not os.path.exists({str(release)!r}) and time.time() < end: time.sleep(0.01)\n"
        f"open({str(log)!r}, 'a').write(f'{{os.getpid()}} {{time.time() > end}}\\n')"
    )  # a rebuild that lasts until the release; True: an update waited for it
    summaries = trainer.Summaries(tmp_path, command=[sys.executable, "-c", rebuild])
    for _ in range(3):
        summaries.update()
    release.touch()
    summaries.close()
    rebuilds = [line.split() for line in log.read_text().splitlines()]
    assert [timed_out for _, timed_out in rebuilds] == ["False", "False"]
    assert str(os.getpid()) not in [pid for pid, _ in rebuilds]


def test_a_summary_rebuild_is_out_of_reach_of_the_terminals_signals():
    """Ctrl-C reaches the whole foreground process group; the trainer stops cleanly on it and waits for the
    rebuild, which must not die of it."""
    trainer_like = (
        "import os, signal, sys\n"
        "from experiments import fashion_dcgan as trainer\n"
        "signal.signal(signal.SIGINT, lambda *_: None)  # the trainer's own handler\n"
        "summaries = trainer.Summaries('.', command=[sys.executable, '-c', 'import time; time.sleep(1)'])\n"
        "summaries.update()\n"
        "os.killpg(0, signal.SIGINT)  # Ctrl-C\n"
        "summaries.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", trainer_like], cwd=REPO, capture_output=True, text=True, start_new_session=True
    )
    assert out.returncode == 0, out.stderr


def test_a_failed_summary_rebuild_is_reported_with_its_message(tmp_path):
    summaries = trainer.Summaries(tmp_path, command=[sys.executable, "-c", "raise SystemExit('no font found')"])
    summaries.update()
    with pytest.raises(RuntimeError, match="rebuilding the GIF and curves failed \\(exit 1\\): no font found"):
        summaries.close()


def test_summaries_lost_to_a_kill_are_rebuilt(reference_run, tmp_path, data_dir, manual_dir):
    w = tmp_path / "run"
    shutil.copytree(reference_run, w)
    reference = {name: (w / name).read_bytes() for name in ("progression.gif", "loss_curves.png")}
    for name in reference:
        (w / name).unlink()  # as if killed after the last checkpoint, before the background rebuild
    args = ["--workdir", w, "--epochs", 2, *TINY, "--data-dir", data_dir, "--manual-dir", manual_dir]
    assert trainer.main(list(map(str, args))) == 0  # already trained: it only rebuilds
    assert {name: (w / name).read_bytes() for name in reference} == reference
