"""Metric logging: ``metrics.jsonl`` (one JSON object a line) and TensorBoard."""

import json
import math
import sys
import time

from etils import epath

from jaxgan import files


class MetricLog:
    """Appends records to ``workdir/metrics.jsonl`` and mirrors scalars to TensorBoard.

    On resume from step ``start_step``, records past that step (written by the
    interrupted run after its last checkpoint) are dropped from both, so the
    log of a resumed run reads like that of an uninterrupted one. So is a last
    line torn by a process killed mid-write.

    In an object store, which cannot append, the log is kept in memory and the
    file rewritten whole: at most every ``upload_every_s`` seconds from ``write``,
    and at every ``flush``, which the trainer calls before each checkpoint so that
    no record the checkpoint covers is lost with the process.
    """

    def __init__(self, workdir: epath.Path, start_step: int, upload_every_s: float = 10.0):
        self.path = workdir / "metrics.jsonl"
        self.remote = files.is_remote(workdir)
        self._lines = []
        if self.path.exists():
            lines = self.path.read_text().splitlines(keepends=True)
            self._lines = [line for line in lines if _step(line) <= start_step]
            files.write_atomic(self.path, "".join(self._lines))
        self._upload_every_s, self._uploaded, self._dirty = upload_every_s, time.monotonic(), False
        self._file = None if self.remote else self.path.open("a")
        self._tb = summary_writer()(str(workdir / "tensorboard"), purge_step=start_step + 1 if start_step else None)

    def write(self, step: int, record: dict, prefix: str = "") -> None:
        record = {"step": step, **{k: float(v) for k, v in record.items()}}
        line = json.dumps(record) + "\n"
        if self.remote:
            self._lines.append(line)
            self._dirty = True
            if time.monotonic() - self._uploaded >= self._upload_every_s:
                self.flush()
        else:
            self._file.write(line)
            self._file.flush()
        for name, value in record.items():
            if name != "step":
                self._tb.add_scalar(prefix + name, value, step)

    def flush(self) -> None:
        """Makes every record written so far durable (locally they are after each ``write``)."""
        if self.remote and self._dirty:
            files.write_atomic(self.path, "".join(self._lines))
            self._uploaded, self._dirty = time.monotonic(), False

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
        self._tb.close()


def _step(line: str) -> float:
    """The step of a complete record; infinity for a torn one (no newline yet, or not JSON)."""
    try:
        return json.loads(line)["step"] if line.endswith("\n") else math.inf
    except json.JSONDecodeError:
        return math.inf


def summary_writer() -> type:
    """tensorboardX's ``SummaryWriter``, imported without PyTorch.

    tensorboardX's writer imports torch, where it is installed, only to accept
    torch tensors; this log gives it floats, and torch's import was 1.45 s of
    each run's start on a 2-core CPU (``BENCHMARKS.md``, "Start-up: the
    TensorBoard writer without PyTorch"). While tensorboardX loads, ``import
    torch`` raises ImportError, as it would without torch, which tensorboardX
    expects; afterwards torch imports as usual. A torch the process has already
    imported is left alone.
    """
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None
    try:
        from tensorboardX import SummaryWriter
    finally:
        if hide:
            del sys.modules["torch"]
    return SummaryWriter
