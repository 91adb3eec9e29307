"""Metric logging: ``metrics.jsonl`` (one JSON object a line) and TensorBoard."""

import json
import math
from pathlib import Path

from tensorboardX import SummaryWriter


class MetricLog:
    """Appends records to ``workdir/metrics.jsonl`` and mirrors scalars to TensorBoard.

    On resume from step ``start_step``, records past that step (written by the
    interrupted run after its last checkpoint) are dropped from both, so the
    log of a resumed run reads like that of an uninterrupted one. So is a last
    line torn by a process killed mid-write.
    """

    def __init__(self, workdir: Path, start_step: int):
        self.path = workdir / "metrics.jsonl"
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines(keepends=True) if _step(line) <= start_step]
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(kept))
            tmp.replace(self.path)
        self._file = self.path.open("a")
        self._tb = SummaryWriter(str(workdir / "tensorboard"), purge_step=start_step + 1 if start_step else None)

    def write(self, step: int, record: dict, prefix: str = "") -> None:
        record = {"step": step, **{k: float(v) for k, v in record.items()}}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        for name, value in record.items():
            if name != "step":
                self._tb.add_scalar(prefix + name, value, step)

    def close(self) -> None:
        self._file.close()
        self._tb.close()


def _step(line: str) -> float:
    """The step of a complete record; infinity for a torn one (no newline yet, or not JSON)."""
    try:
        return json.loads(line)["step"] if line.endswith("\n") else math.inf
    except json.JSONDecodeError:
        return math.inf
