"""Data parallelism: more devices, or more processes, compute the same training as one device."""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO


def train(out, devices_per_process, *args):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process}"}
    cmd = [sys.executable, "-m", "tests.data_parallel_worker", "--out", str(out), *map(str, args)]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc):
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]


def assert_close(a_path, b_path, atol):
    a, b = np.load(a_path), np.load(b_path)
    leaves = [k for k in a.files if k.startswith("leaf_")]
    assert leaves and sorted(leaves) == sorted(k for k in b.files if k.startswith("leaf_"))
    for k in leaves:
        np.testing.assert_allclose(a[k], b[k], atol=atol, rtol=0, err_msg=k)
    np.testing.assert_allclose(a["losses"], b["losses"], atol=atol, rtol=0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One process with 8 devices trains on meshes of 8 and 1, and in bfloat16 on 1."""
    out = tmp_path_factory.mktemp("runs")
    finish(train(out, 8, "--runs", "8:float32", "1:float32", "1:bfloat16"))
    return out


@pytest.fixture(scope="module")
def one_device(runs):
    assert int(np.load(runs / "1_float32.npz")["mesh_size"]) == 1
    return runs / "1_float32.npz"


def test_eight_devices_match_one(runs, one_device):
    assert int(np.load(runs / "8_float32.npz")["mesh_size"]) == 8
    # Same global batch, noise and dropout masks; only the order of the cross-device sums differs.
    assert_close(runs / "8_float32.npz", one_device, atol=1e-5)


def test_two_processes_match_one(one_device, tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    common = ["--num-processes", 2, "--coordinator", f"localhost:{port}"]
    procs = [train(tmp_path, 2, *common, "--process-id", i) for i in (0, 1)]
    for proc in procs:
        finish(proc)
    assert int(np.load(tmp_path / "0_float32.npz")["mesh_size"]) == 4  # 2 processes x 2 devices
    assert_close(tmp_path / "0_float32.npz", one_device, atol=1e-5)


def test_bfloat16_trains_like_float32(runs, one_device):
    bf16, f32 = np.load(runs / "1_bfloat16.npz"), np.load(one_device)
    assert all(bf16[k].dtype == f32[k].dtype for k in f32.files)  # parameters and Adam states stay float32
    np.testing.assert_allclose(bf16["losses"], f32["losses"], atol=0.05)
    assert not np.allclose(bf16["losses"], f32["losses"], atol=1e-6, rtol=0)  # it did compute in bf16
