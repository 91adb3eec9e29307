"""Leaf-by-leaf comparisons of pytrees that may hold typed PRNG keys, and runs of the command lines."""

import json
import os
import subprocess
import sys

import jax
import numpy as np

from experiments import fashion_dcgan as trainer
from jaxgan import checkpoint
from tests.conftest import REPO


def raw(x):
    """Key arrays as their uint32 data; other arrays as they are."""
    return jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x


def assert_trees_equal(a, b) -> None:
    """Same structure, same dtypes, same bits, leaf by leaf (the message names the leaf)."""
    leaves_a, leaves_b = jax.tree.leaves_with_path(a), jax.tree.leaves_with_path(b)
    assert [p for p, _ in leaves_a] == [p for p, _ in leaves_b]
    for (path, x), (_, y) in zip(leaves_a, leaves_b, strict=True):
        assert x.dtype == y.dtype, path
        np.testing.assert_array_equal(raw(x), raw(y), err_msg=jax.tree_util.keystr(path))


def changed_leaves(a, b) -> list[bool]:
    """For each leaf, whether it differs between ``a`` and ``b``."""
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return [not np.array_equal(raw(x), raw(y)) for x, y in pairs]


# A tiny run: 4 steps an epoch on 256 real images, every step logged, a checkpoint every 3 steps.
TINY = [
    "--num-train",
    "256",
    "--batch-size",
    "64",
    "--log-every",
    "1",
    "--checkpoint-every",
    "3",
    "--eval-samples",
    "64",
]
# For runs compared with the reference only by state and per-step records: the per-epoch
# evaluation (a flag that does not change the run) costs each of them ~10 s.
NO_EVAL = [*TINY, "--eval-samples", "0"]


def command(module, *args):
    return [sys.executable, "-m", f"experiments.{module}", *map(str, args)]


def run(module, *args, data_dir=None, manual_dir=None, check=True, env=None):
    env = {**os.environ, "JAXGAN_MANUAL_DIR": manual_dir or "", **(env or {})}
    extra = ["--data-dir", data_dir] if data_dir else []
    proc = subprocess.run(command(module, *args, *extra), cwd=REPO, env=env, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def run_here(main, *args, data_dir=None, manual_dir=None, code=0):
    """``main`` of an experiment called in this process (no interpreter, TensorFlow and JAX start-up:
    ~10 s a run), expected to return ``code``; the subprocess runs of test_cli.py and test_cli_errors.py
    cover the command line itself."""
    extra = [*(["--data-dir", data_dir] if data_dir else []), *(["--manual-dir", manual_dir] if manual_dir else [])]
    assert main([*map(str, args), *extra]) == code


def final_state(workdir):
    cfg = trainer.Config(**json.loads((workdir / "config.json").read_text()))
    return checkpoint.restore(checkpoint.manager(workdir / "checkpoints"), trainer.build_state(cfg))


def step_records(workdir):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "epoch_time_s" not in r]
