"""The command lines' errors: one line on stderr, exit code 2, nothing written."""

import os

import numpy as np
import pytest

from experiments import fashion_dcgan as trainer
from jaxgan import data
from tests import fake_gcs
from tests.helpers import run, run_here


def read_only_folder(tmp_path):
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o555)
        return folder
    if os.path.isdir("/sys"):  # root ignores permission bits; sysfs refuses new files even to root
        return "/sys"
    pytest.skip("no folder this user cannot write to")


@pytest.mark.parametrize("where", ["under a file", "read-only"])
def test_an_unwritable_workdir_fails_with_one_line(tmp_path, where):
    if where == "under a file":
        (tmp_path / "file").write_text("")
        workdir = tmp_path / "file" / "run"
    else:
        workdir = os.path.join(read_only_folder(tmp_path), "jaxgan-run")
    proc = run("fashion_dcgan", "--workdir", workdir, check=False)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot write to {workdir}")
    assert not os.path.exists(workdir)


def test_a_bucket_that_cannot_be_written_fails_with_one_line():
    with fake_gcs.FakeGCS(buckets=("bucket",)) as gcs:
        proc = run("fashion_dcgan", "--workdir", "gs://elsewhere/run", check=False, env=fake_gcs.client_env(gcs.url))
    assert proc.returncode == 2
    [line] = [line for line in proc.stderr.splitlines() if not line.startswith("WARNING:gcsfs")]
    assert line.startswith("error: cannot write to gs://elsewhere/run: FileNotFoundError: ")  # the client's words
    assert not gcs.store.objects


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--epochs", "0"], "--epochs must be positive, got 0"),
        (["--batch-size", "-1"], "--batch-size must be positive, got -1"),
        (["--learning-rate", "0"], "--learning-rate must be positive, got 0.0"),
        (
            ["--disc-learning-rate=-1e-4"],
            "--disc-learning-rate must be positive, or 0 for --learning-rate, got -0.0001",
        ),
        (["--arch", "dcgan32"], "--arch must be one of tutorial, dcgan64, dcgan128, got 'dcgan32'"),
        (["--loss", "wgan"], "--loss must be one of bce, hinge, lsgan, wgan-gp, got 'wgan'"),
        (["--disc-steps", "0"], "--disc-steps must be positive, got 0"),
        (["--disc-width", "0"], "--disc-width must be positive, got 0"),
        (["--gen-width", "-8"], "--gen-width must be positive, got -8"),
        (["--disc-depth", "-1"], "--disc-depth must be 0 or positive, got -1"),
        (["--gen-depth", "-2"], "--gen-depth must be 0 or positive, got -2"),
        (["--steps-per-call", "-1"], "--steps-per-call must be positive, or 0 for the platform's default, got -1"),
        (["--checkpoint-every", "-5"], "--checkpoint-every must be positive, or 0 for the platform's default, got -5"),
        (["--ema-decay", "1"], "--ema-decay must be in [0, 1), got 1.0"),
        (["--standing-stats", "-1"], "--standing-stats must be 0 (see --help) or positive, got -1"),
        (["--keep-every", "-2"], "--keep-every must be 0 (see --help) or positive, got -2"),
        (["--lr-decay-epochs", "-1"], "--lr-decay-epochs must be 0 (see --help) or positive, got -1"),
        (["--epochs", "3", "--lr-decay-epochs", "4"], "--lr-decay-epochs 4 is more than --epochs 3"),
        (["--convolutions", "mkl"], "--convolutions must be one of xla, onednn, got 'mkl'"),
        (
            ["--diffaugment", "color,flip"],
            "--diffaugment: unknown DiffAugment transform 'flip' (known: color, translation, cutout)",
        ),
        (["--dtype", "float16"], "--dtype must be one of float32, bfloat16, got 'float16'"),
        (
            ["--arch", "dcgan64", "--loss", "wgan-gp"],
            "--loss wgan-gp needs a discriminator without batch normalization: use --arch tutorial",
        ),
    ],
)
def test_bad_flags_fail_with_one_line(tmp_path, flags, message, capsys):
    """In this process (the subprocess tests around check that nothing else reaches stderr)."""
    run_here(trainer.main, "--workdir", tmp_path / "w", *flags, code=2)
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "w").exists()


def test_batch_larger_than_the_training_set_fails_with_one_line(tmp_path, data_dir, manual_dir, capsys):
    args = ["--workdir", tmp_path / "w", "--num-train", 100, "--batch-size", 128]
    run_here(trainer.main, *args, data_dir=data_dir, manual_dir=manual_dir, code=2)
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --batch-size 128 is larger than the training set (100 images)"
    ]
    assert not (tmp_path / "w").exists()


def test_generate_on_an_empty_workdir_fails_clearly(tmp_path):
    proc = run("generate", "--workdir", tmp_path, "--out", tmp_path / "x.png", check=False)
    assert proc.returncode == 2
    assert "holds no training run" in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_evaluate_refuses_a_bad_samples_file(tmp_path):
    np.savez(tmp_path / "s.npz", images=np.zeros((10, 28, 28, 1), np.float32))
    proc = run("evaluate", "--samples", tmp_path / "s.npz", check=False)
    assert (
        proc.returncode == 2
        and proc.stderr.strip() == f"error: {tmp_path / 's.npz'}: images must be uint8, got float32"
    )
    assert not (tmp_path / "s.eval.json").exists()
    proc = run("evaluate", "--samples", tmp_path / "missing.npz", check=False)
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_no_internet_and_no_manual_dir_fails_with_one_line(tmp_path):

    if data._reachable("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"):
        pytest.skip("this machine is online")
    args = ["--workdir", tmp_path / "w", "--data-dir", tmp_path / "tfds"]
    proc = run("fashion_dcgan", *args, check=False)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: cannot reach") and "--manual-dir" in line
    assert not (tmp_path / "w").exists()


def test_manual_dir_missing_a_file_fails_with_one_line(tmp_path):
    (tmp_path / "files").mkdir()
    args = ["--workdir", tmp_path / "w", "--data-dir", tmp_path / "tfds", "--manual-dir", tmp_path / "files"]
    proc = run("fashion_dcgan", *args, check=False)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: manual dir {tmp_path / 'files'} lacks ")
    assert not (tmp_path / "w").exists()


def test_a_non_finite_metric_stops_training_naming_step_and_metric():
    trainer.check_finite({"disc/loss": np.float32(0.7), "gen/loss": np.float32(1.0)}, 10)
    with pytest.raises(trainer.UserError, match="gen/loss is nan by step 12"):
        trainer.check_finite({"disc/loss": np.float32(0.7), "gen/loss": np.float32("nan")}, 12)


def test_onednn_convolutions_on_several_devices_fail_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    proc = run("fashion_dcgan", "--workdir", tmp_path / "run", "--convolutions", "onednn", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --convolutions onednn runs on one device; this run has 2"]
    assert not (tmp_path / "run").exists()


def test_onednn_bfloat16_on_a_cpu_without_it_fails_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # oneDNN then sees an AVX2 CPU, which has no bfloat16 kernels
    args = ["--workdir", tmp_path / "run", "--convolutions", "onednn", "--dtype", "bfloat16"]
    proc = run("fashion_dcgan", *args, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --convolutions onednn: oneDNN has no bfloat16 convolutions for this CPU (bfloat16 needs AVX-512); "
        "use --convolutions xla"
    ]
    assert not (tmp_path / "run").exists()
