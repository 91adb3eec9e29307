"""Run folders on disk and in an object store: atomic writes, and a metrics log that never appends remotely."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from etils import epath

from jaxgan import files
from tests import fake_gcs
from tests.conftest import REPO


def test_uris_are_remote_and_paths_local(tmp_path):
    assert files.is_remote("gs://bucket/run") and files.is_remote(epath.Path("gs://bucket/run"))
    assert not files.is_remote(tmp_path) and not files.is_remote("runs/gs:/a")


def test_write_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = epath.Path(tmp_path / "config.json")
    files.write_atomic(target, "old")
    files.write_atomic(target, b"new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["config.json"]


def test_write_atomic_leaves_another_writers_temporary_file_alone_and_its_own_never(tmp_path):
    """Processes writing one path at once (the hosts of a pod sharing a folder) each write their own file."""
    target = epath.Path(tmp_path / "config.json")
    (tmp_path / "config.json.tmp").write_text("another writer, half way")  # the one name all writers once shared
    files.write_atomic(target, "mine")
    assert target.read_text() == "mine"
    assert (tmp_path / "config.json.tmp").read_text() == "another writer, half way"
    (tmp_path / "config.json.tmp").unlink()
    target.unlink()
    target.mkdir()  # the rename fails: the error stands and no temporary file is left
    with pytest.raises(OSError):
        files.write_atomic(target, "mine")
    assert os.listdir(tmp_path) == ["config.json"]


# Runs in a child process: epath picks its gs:// client once per process, from the environment.
METRIC_LOG_IN_A_BUCKET = """
import json, sys
from etils import epath
from jaxgan.logs import MetricLog

workdir = epath.Path("gs://bucket/run")
records = lambda: [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]
log = MetricLog(workdir, start_step=0, upload_every_s=3600)
for step in range(1, 6):
    log.write(step, {"gen/loss": 0.5})
first = (workdir / "metrics.jsonl").exists()
log.flush()
after_flush = records()
log.write(6, {"gen/loss": 0.5})  # written after the last flush: lost with the process

log = MetricLog(workdir, start_step=3)  # resumed from a checkpoint at step 3
on_resume = records()
log.write(4, {"gen/loss": 0.25})
log.close()
print(json.dumps([first, after_flush, on_resume, records()]))
"""


def test_the_metric_log_in_a_bucket_is_rewritten_whole_at_each_flush():
    with fake_gcs.FakeGCS() as gcs:
        env = {**os.environ, **fake_gcs.client_env(gcs.url)}
        proc = subprocess.run(
            [sys.executable, "-c", METRIC_LOG_IN_A_BUCKET], cwd=REPO, env=env, capture_output=True, text=True
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, after_flush, on_resume, final = json.loads(proc.stdout.splitlines()[-1])
    assert not first  # nothing uploaded before a flush (upload_every_s not reached)
    assert after_flush == [1, 2, 3, 4, 5]
    assert on_resume == [1, 2, 3]  # the records past the checkpoint dropped
    assert final == [1, 2, 3, 4]  # appended to the kept ones, not started over


# Runs in a child process: the point is what a fresh process imports.
METRIC_LOG_WITHOUT_TORCH = """
import pathlib, struct, sys
from etils import epath
from jaxgan.logs import MetricLog

log = MetricLog(epath.Path(sys.argv[1]), start_step=0)
log.write(1, {"gen/loss": 0.5})
log.close()
assert "tensorboardX" in sys.modules and "torch" not in sys.modules, "tensorboardX imported torch"
from tensorboardX.proto.event_pb2 import Event

(path,) = pathlib.Path(sys.argv[1], "tensorboard").iterdir()
data, events = path.read_bytes(), []
while data:  # TFRecords: length (8 bytes), its CRC (4), the Event, its CRC (4)
    (n,) = struct.unpack("<Q", data[:8])
    events.append(Event.FromString(data[12 : 12 + n]))
    data = data[16 + n :]
scalars = [(e.step, v.tag, v.simple_value) for e in events for v in e.summary.value]
assert scalars == [(1, "gen/loss", 0.5)], scalars
import torch  # importable as usual afterwards
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch is not installed")
def test_the_metric_log_does_not_import_torch_but_leaves_it_importable(tmp_path):
    """tensorboardX's writer imports torch where it is installed (1.45 s of a run's start)."""
    proc = subprocess.run(
        [sys.executable, "-c", METRIC_LOG_WITHOUT_TORCH, tmp_path], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
