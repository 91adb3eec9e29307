"""End-to-end runs of the trainer's variants: scanned steps, the Radford nets, class-conditional."""

import dataclasses
import json
import os
from functools import partial

import jax
import numpy as np
import pytest
from PIL import Image

from experiments import evaluate as ev
from experiments import fashion_dcgan as trainer
from experiments import generate as gen
from jaxgan import checkpoint, onednn, xla_flags
from tests.helpers import NO_EVAL, assert_trees_equal, final_state, run_here, step_records


def test_steps_per_call_runs_scans_that_resume_bit_identically(tmp_path, data_dir, manual_dir):
    """--steps-per-call 3 on 4 steps an epoch (calls of 3 and 1 steps): the single-step run up to float
    rounding (a scan compiles differently), logged and checkpointed as usual, and a run continued from
    its first epoch bit-identical to an uninterrupted one. --eval-every 3 evaluates the last epoch only."""
    small = ["--num-train", 64, "--batch-size", 16, "--log-every", 1, "--checkpoint-every", 3]
    scan, no_eval = [*small, "--steps-per-call", 3], ["--eval-samples", 0]
    a, b, single = tmp_path / "a", tmp_path / "b", tmp_path / "single"
    data = {"data_dir": data_dir, "manual_dir": manual_dir}
    run_here(trainer.main, "--workdir", a, "--epochs", 2, *scan, "--eval-samples", 64, "--eval-every", 3, **data)
    for epochs in (1, 2):
        run_here(trainer.main, "--workdir", b, "--epochs", epochs, *scan, *no_eval, **data)
    run_here(trainer.main, "--workdir", single, "--epochs", 2, *small, *no_eval, **data)
    assert_trees_equal(final_state(a), final_state(b))
    assert step_records(a) == step_records(b)
    assert [r["step"] for r in step_records(a)] == list(range(1, 9))
    pairs = zip(
        jax.tree.leaves(final_state(a).gen_params), jax.tree.leaves(final_state(single).gen_params), strict=True
    )
    for x, y in pairs:  # Adam moves a weight by about lr = 1e-4 a step even where its gradient is ~0, and
        # there rounding can flip the step: every weight within two steps, and the losses equal to 4 digits.
        assert np.abs(x - y).max() <= 2e-4
    for scanned, stepped in zip(step_records(a), step_records(single), strict=True):
        assert scanned == pytest.approx(stepped, rel=1e-4)
    saved = checkpoint.manager(a / "checkpoints", read_only=True).all_steps()
    assert sorted(saved) == [4, 7, 8]  # the last 3 kept: the first call ending past a multiple of 3, epoch ends
    epochs = [r for r in map(json.loads, (a / "metrics.jsonl").read_text().splitlines()) if "epoch" in r]
    assert ["eval/fcd" in r for r in epochs] == [False, True]


@pytest.mark.skipif(not onednn.supported(), reason="oneDNN's pip packages are for x86-64 Linux")
def test_onednn_bfloat16_runs_resume_bit_identically(tmp_path, data_dir, manual_dir, monkeypatch):
    """--convolutions onednn --dtype bfloat16 (the fast CPU recipe): a run continued from its first epoch
    ends bit-identical to an uninterrupted one, and the process's convolutions are XLA's again after it.
    The trainer asks XLA for its serial schedule (which this process, its JAX started, no longer reads)."""
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # restored after the test
    args = ["--num-train", 64, "--batch-size", 16, "--eval-samples", 0, "--convolutions", "onednn", "--dtype",
            "bfloat16"]  # fmt: skip
    a, b = tmp_path / "a", tmp_path / "b"
    data = {"data_dir": data_dir, "manual_dir": manual_dir}
    run_here(trainer.main, "--workdir", a, "--epochs", 2, *args, **data)
    for epochs in (1, 2):
        run_here(trainer.main, "--workdir", b, "--epochs", epochs, *args, **data)
    assert not onednn.enabled
    assert xla_flags.SERIAL_SCHEDULE in os.environ["XLA_FLAGS"].split()
    assert int(final_state(a).step) == 8
    assert_trees_equal(final_state(a), final_state(b))
    assert step_records(a) == step_records(b)


def test_spectral_norm_runs_resume_bit_identically_and_sample(tmp_path, data_dir, manual_dir):
    """--spectral-norm: D's power-iteration vectors are in the checkpoint, so a run continued from its
    first epoch ends bit-identical to an uninterrupted one; generate reads the run back."""
    args = ["--num-train", 64, "--batch-size", 16, "--eval-samples", 0, "--spectral-norm", "--loss", "hinge"]
    a, b = tmp_path / "a", tmp_path / "b"
    data = {"data_dir": data_dir, "manual_dir": manual_dir}
    run_here(trainer.main, "--workdir", a, "--epochs", 2, *args, **data)
    for epochs in (1, 2):
        run_here(trainer.main, "--workdir", b, "--epochs", epochs, *args, **data)
    state = final_state(a)
    assert int(state.step) == 8 and len(jax.tree.leaves(state.disc_batch_stats)) == 6
    assert_trees_equal(state, final_state(b))
    assert step_records(a) == step_records(b)
    assert gen.main(["--workdir", str(a), "--num", "3", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["images"].shape == (3, 28, 28, 1)


@pytest.mark.parametrize("backend,steps", [("cpu", 1), ("gpu", 100), ("tpu", 100)])
def test_steps_per_call_zero_picks_the_platforms_default(monkeypatch, backend, steps):
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    assert trainer.default_steps_per_call() == steps


@pytest.mark.parametrize("backend,every", [("cpu", 500), ("gpu", 937), ("tpu", 937)])
def test_checkpoint_every_zero_picks_the_platforms_default(monkeypatch, backend, every):
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    assert trainer.default_checkpoint_every(937) == every


def test_a_radford_dcgan64_variant_trains_and_samples_from_its_ema(tmp_path, data_dir, manual_dir):
    variant = ["--arch", "dcgan64", "--loss", "hinge", "--disc-steps", 2, "--ema-decay", 0.9,
               "--diffaugment", "color,translation,cutout", "--learning-rate", 2e-4, "--beta1", 0.5]  # fmt: skip
    args = ["--workdir", tmp_path / "run", "--epochs", 1, "--num-train", 64, "--batch-size", 32, "--eval-samples", 0]
    run_here(trainer.main, *args, *variant, data_dir=data_dir, manual_dir=manual_dir)
    state = final_state(tmp_path / "run")
    assert int(state.step) == 2 and state.gen_ema_params is not None
    pairs = zip(jax.tree.leaves(state.gen_params), jax.tree.leaves(state.gen_ema_params), strict=True)
    assert any(np.any(a != b) for a, b in pairs)  # the average lags the weights
    grid = Image.open(tmp_path / "run" / "samples" / "epoch_001.png")
    assert grid.size == (2 * (8 * 66 + 2),) * 2  # 8x8 grid of 64-pixel images, 2-pixel gaps, doubled
    assert gen.main(["--workdir", str(tmp_path / "run"), "--num", "3", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["images"].shape == (3, 64, 64, 1)
    # The average is sampled with its own BatchNorm statistics (--standing-stats), not the live generator's.
    run = gen.load_run(tmp_path / "run")
    assert run.cfg.standing_stats == 100
    pairs = zip(jax.tree.leaves(run.batch_stats), jax.tree.leaves(state.gen_batch_stats), strict=True)
    assert all(np.any(a != b) for a, b in pairs)
    without = dataclasses.replace(run.cfg, standing_stats=0)
    assert trainer.sampling_stats(without, run.spec, run.state) is None


def test_class_conditional_run_generates_and_evaluates_by_class(tmp_path, data_dir, manual_dir, capsys):
    from experiments import fashion_cdcgan

    assert trainer.workdir_of(fashion_cdcgan.Config(seed=3)).as_posix() == "runs/fashion_cdcgan/seed3"
    w = tmp_path / "run"
    args = ["--workdir", w, "--epochs", 1, "--num-train", 128, "--batch-size", 32, "--eval-samples", 100]
    run_here(fashion_cdcgan.main, *args, data_dir=data_dir, manual_dir=manual_dir)
    assert json.loads((w / "config.json").read_text())["conditional"] is True
    epoch = [r for r in map(json.loads, (w / "metrics.jsonl").read_text().splitlines()) if "epoch" in r][-1]
    assert 0 <= epoch["eval/class_accuracy"] <= 1
    grid = Image.open(w / "samples" / "epoch_001.png")
    assert grid.size == (90 + 2 * (8 * 30 + 2), 2 * (10 * 30 + 2))  # a name margin, then one row of 8 per class
    # --class by name or number; the npz keeps the classes.
    assert gen.main(["--workdir", str(w), "--num", "5", "--class", "sneaker", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["labels"].tolist() == [7] * 5
    assert gen.main(["--workdir", str(w), "--num", "5", "--class", "7", "--out", str(tmp_path / "n.npz")]) == 0
    assert np.array_equal(np.load(tmp_path / "s.npz")["images"], np.load(tmp_path / "n.npz")["images"])
    assert gen.main(["--workdir", str(w), "--num", "12", "--out", str(tmp_path / "all.npz")]) == 0
    assert np.load(tmp_path / "all.npz")["labels"].tolist() == [*range(10), 0, 1]
    capsys.readouterr()
    assert gen.main(["--workdir", str(w), "--class", "hat", "--out", str(tmp_path / "x.png")]) == 2
    assert "--class 'hat' names no single class" in capsys.readouterr().err
    # evaluate reads the classes from the npz: accuracy and FCD per class.
    ev_args = ["--samples", str(tmp_path / "all.npz"), "--json", "--manual-dir", manual_dir]
    assert ev.main([*ev_args, "--data-dir", data_dir]) == 0
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(results["class_accuracy_per_class"]) == len(results["fcd_per_class"]) == 10


def test_kept_epochs_are_sampled_by_step_and_averaged(tmp_path, data_dir, manual_dir, capsys):
    """--keep-every 2 keeps every second epoch's end beside the newest 3 checkpoints. generate and evaluate
    sample one by --step; --average N samples the mean of the last N epoch ends' moving averages, with
    standing statistics of that mean."""
    w = tmp_path / "run"
    args = ["--workdir", w, "--epochs", 5, "--num-train", 32, "--batch-size", 16, "--eval-samples", 0,
            "--checkpoint-every", 1000, "--keep-every", 2, "--ema-decay", 0.9, "--standing-stats", 2]  # fmt: skip
    run_here(trainer.main, *args, data_dir=data_dir, manual_dir=manual_dir)
    mngr = checkpoint.manager(w / "checkpoints", read_only=True)
    assert mngr.all_steps() == [4, 6, 8, 10]  # epochs of 2 steps: epoch 2 kept, and the newest 3
    assert checkpoint.epoch_ends(mngr) == {4: 2, 6: 3, 8: 4, 10: 5}
    runs = {s: gen.load_run(w, step=s) for s in (4, 6, 8, 10)}
    assert [int(r.state.step) for r in runs.values()] == [4, 6, 8, 10]
    assert_trees_equal(runs[10].state, gen.load_run(w).state)

    def mean_ema(*ss):
        return jax.tree.map(lambda *x: sum(x) / len(x), *[runs[s].state.gen_ema_params for s in ss])

    for step, average, expected in ((0, 2, (8, 10)), (8, 3, (4, 6, 8))):
        run = gen.load_run(w, step=step, average=average)
        assert int(run.state.step) == expected[-1]
        for x, y in zip(jax.tree.leaves(run.state.gen_ema_params), jax.tree.leaves(mean_ema(*expected)), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
        assert_trees_equal(run.state.gen_params, runs[expected[-1]].state.gen_params)  # training state untouched
        stats = trainer.standing_stats(run.cfg, run.spec, run.state)
        assert_trees_equal(run.batch_stats, stats)  # the mean's own, not the last checkpoint's
        assert any(np.any(a != b) for a, b in zip(*map(jax.tree.leaves, (stats, runs[10].batch_stats)), strict=True))
    out = tmp_path / "avg.npz"
    assert gen.main(["--workdir", str(w), "--num", "4", "--average", "2", "--out", str(out)]) == 0
    assert "from step 10 (the mean of 2 epochs' generators)" in capsys.readouterr().out
    assert np.array_equal(np.load(out)["images"], gen.draw(gen.load_run(w, average=2), 4, 0))
    evaluate = ["--workdir", w, "--num", 20, "--step", 8, "--average", 2]
    run_here(ev.main, *evaluate, data_dir=data_dir, manual_dir=manual_dir)
    assert {k: json.loads((w / "eval.json").read_text())[k] for k in ("step", "average")} == {"step": 8, "average": 2}
    capsys.readouterr()  # evaluate's table
    for flags, message in (
        (["--step", "5"], "no checkpoint at step 5; it has steps [4, 6, 8, 10]"),
        (["--step", "5", "--average", "2"], "--average needs --step at an epoch's end"),
        (["--step", "6", "--average", "3"], "--average 3 needs 3 epoch-end checkpoints, "),
        (["--average", "-1"], "--average must be 0 (see --help) or positive, got -1"),
    ):
        assert gen.main(["--workdir", str(w), "--out", str(tmp_path / "x.png"), *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_finished_run_continues_with_a_learning_rate_decay(tmp_path, data_dir, manual_dir):
    """A 1-epoch run (4 steps) continued to 2 epochs with --lr-decay-epochs 1 (a resumable field), beside
    the same continuation without it. The decay's factors for steps 4-7 are 1, 3/4, 1/2, 1/4: step 4 is
    the undecayed step, so the records of steps 1-6 (each logged from the weights before it) agree and
    those of steps 7 and 8 do not; the decayed run's config records the decay."""
    data = {"data_dir": data_dir, "manual_dir": manual_dir}
    runs = {name: tmp_path / name for name in ("constant", "decay")}
    for name, workdir in runs.items():
        run_here(trainer.main, "--workdir", workdir, "--epochs", 1, *NO_EVAL, **data)
        decay = ["--lr-decay-epochs", 1] if name == "decay" else []
        run_here(trainer.main, "--workdir", workdir, "--epochs", 2, *NO_EVAL, *decay, **data)
    constant, decay = (step_records(w) for w in runs.values())
    assert [r["step"] for r in decay] == list(range(1, 9))
    assert decay[:6] == constant[:6]
    assert all(a["disc/loss"] != b["disc/loss"] for a, b in zip(decay[6:], constant[6:], strict=True))
    assert json.loads((runs["decay"] / "config.json").read_text())["lr_decay_epochs"] == 1


def test_the_discriminator_learns_at_its_own_rate():
    """--disc-learning-rate sets D's Adam rate alone (0: --learning-rate's). Adam's first step moves each
    weight by lr * |g| / (|g| + eps), so the largest move of each network is its learning rate."""
    spec = trainer.DataSpec(stored_shape=(28, 28, 1), side=28, class_names=())
    batch = {"image": jax.random.uniform(jax.random.key(1), (8, 28, 28, 1), minval=-1, maxval=1)}

    def largest_move(before, after):
        pairs = zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)
        return max(float(np.abs(a - b).max()) for a, b in pairs)

    for disc_lr, expected in ((0.0, 1e-4), (4e-4, 4e-4)):
        cfg = trainer.Config(learning_rate=1e-4, disc_learning_rate=disc_lr)
        state = trainer.build_state(cfg, spec)
        new, _ = trainer.train_step_of(cfg, steps_per_epoch=1)(state, batch)
        assert largest_move(state.gen_params, new.gen_params) == pytest.approx(1e-4, rel=1e-3)
        assert largest_move(state.disc_params, new.disc_params) == pytest.approx(expected, rel=1e-3)


OTHER = {"gen": "disc", "disc": "gen"}  # the network a flag of the other must leave alone


def shapes_of_a_network_flag(cfg, spec, net):
    """The shapes of run ``cfg``'s initial state, after checking that its flag for network ``net`` ("gen" or
    "disc") reached that network's Adam moments (and G's EMA copy) and left the other network's shapes as the
    same architecture's default run has them."""
    default, shapes = (
        jax.eval_shape(partial(trainer.build_state, c, spec)) for c in (trainer.Config(arch=cfg.arch), cfg)
    )
    params = getattr(shapes, f"{net}_params")
    copies = [getattr(shapes, f"{net}_opt_state")[0].mu]
    if net == "gen" and shapes.gen_ema_params is not None:
        copies.append(shapes.gen_ema_params)
    for copy in copies:
        assert jax.tree.map(np.shape, copy) == jax.tree.map(np.shape, params)
    assert jax.tree.map(np.shape, getattr(shapes, f"{OTHER[net]}_params")) == jax.tree.map(
        np.shape, getattr(default, f"{OTHER[net]}_params")
    )
    return shapes


def one_step(cfg, state):
    """One jitted step of run ``cfg`` from ``state`` on a batch of 4 random 28x28 images: ``(state, metrics)``."""
    batch = {"image": jax.random.uniform(jax.random.key(1), (4, 28, 28, 1), minval=-1, maxval=1)}
    return jax.jit(trainer.train_step_of(cfg, steps_per_epoch=1))(state, batch)


def assert_one_step_moves(cfg, spec, net, layer):
    """One jitted step of run ``cfg`` gives network ``net`` a finite loss and moves its ``layer``'s kernel."""
    state = trainer.build_state(cfg, spec)
    new, metrics = one_step(cfg, state)
    assert np.isfinite(float(metrics[f"{net}/loss"]))
    before, after = (getattr(s, f"{net}_params")[layer]["kernel"] for s in (state, new))
    assert not np.array_equal(after, before)


@pytest.mark.parametrize("arch,first_kernel", [("tutorial", (5, 5, 1, 32)), ("dcgan64", (4, 4, 1, 32))])
def test_disc_width_widens_the_discriminator_alone(arch, first_kernel):
    """--disc-width reaches D's convs and D's Adam moments, leaves G's shapes as they were, and trains."""
    spec = trainer.DataSpec(stored_shape=(28, 28, 1), side=trainer.IMAGE_SIZE[arch], class_names=())
    cfg = trainer.Config(arch=arch, disc_width=32)
    narrow = shapes_of_a_network_flag(cfg, spec, "disc")
    assert narrow.disc_params["Conv_0"]["kernel"].shape == first_kernel
    assert narrow.disc_params["Conv_1"]["kernel"].shape == (*first_kernel[:2], 32, 64)
    if arch == "tutorial":  # the narrow D trains
        assert_one_step_moves(cfg, spec, "disc", "Conv_1")


@pytest.mark.parametrize("arch,side,widest", [("tutorial", 7, 4 * 48), ("dcgan64", 4, 8 * 48)])
def test_gen_width_widens_the_generator_alone(arch, side, widest):
    """--gen-width reaches G's layers, its Adam moments and its EMA copy, leaves D's shapes as they were, and
    trains."""
    spec = trainer.DataSpec(stored_shape=(28, 28, 1), side=trainer.IMAGE_SIZE[arch], class_names=())
    cfg = trainer.Config(arch=arch, gen_width=48, ema_decay=0.999)
    wide = shapes_of_a_network_flag(cfg, spec, "gen")
    assert wide.gen_params["Dense_0"]["kernel"].shape == (100, side * side * widest)
    assert wide.gen_params["ConvTranspose_0"]["kernel"].shape[2] == widest
    if arch == "tutorial":  # the wide G trains
        assert_one_step_moves(cfg, spec, "gen", "ConvTranspose_1")


@pytest.mark.parametrize(
    "net,kernels",
    [
        ("disc", {"Conv_0": (5, 5, 1, 64), "Conv_1": (3, 3, 64, 64), "Conv_2": (5, 5, 64, 128),
                  "Conv_3": (3, 3, 128, 128), "Dense_0": (6272, 1)}),
        ("gen", {"Dense_0": (100, 12544), "ConvTranspose_0": (5, 5, 256, 128), "Conv_0": (3, 3, 128, 128),
                 "ConvTranspose_1": (5, 5, 128, 64), "Conv_1": (3, 3, 64, 64), "ConvTranspose_2": (5, 5, 64, 1)}),
    ],
)  # fmt: skip
def test_depth_deepens_one_network_alone(net, kernels):
    """--disc-depth / --gen-depth reach that network's convs, its Adam moments (and G's EMA copy), leave the other
    network as it was (values too), and one step moves every kernel of the deepened one."""
    spec = trainer.DataSpec(stored_shape=(28, 28, 1), side=28, class_names=())
    cfg = trainer.Config(ema_decay=0.999, **{f"{net}_depth": 1})
    shapes = shapes_of_a_network_flag(cfg, spec, net)
    assert {name: p["kernel"].shape for name, p in getattr(shapes, f"{net}_params").items() if "kernel" in p} == kernels
    deep, default = (trainer.build_state(c, spec) for c in (cfg, trainer.Config(ema_decay=0.999)))
    assert_trees_equal(getattr(deep, f"{OTHER[net]}_params"), getattr(default, f"{OTHER[net]}_params"))
    new, metrics = one_step(cfg, deep)
    assert np.isfinite(float(metrics["disc/loss"])) and np.isfinite(float(metrics["gen/loss"]))
    for name, p in getattr(deep, f"{net}_params").items():
        if "kernel" in p:
            assert not np.array_equal(getattr(new, f"{net}_params")[name]["kernel"], p["kernel"]), name
