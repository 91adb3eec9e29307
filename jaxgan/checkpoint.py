"""Orbax checkpoints of a GANState, verified on restore.

Only the array leaves are saved; the modules and optimizers come from the
config, so a checkpoint restores into a state built the same way. The PRNG key
is stored as its raw uint32 data.

Orbax writes each step under a temporary name and renames it when complete,
so a process killed mid-write leaves no half checkpoint under a step's name.
That does not protect against a disk that later truncates or flips bytes, so
each checkpoint also records the SHA-256 of its arrays; ``restore_latest``
checks it and falls back to the newest checkpoint that reads back intact.
"""

import concurrent.futures
import contextlib
import gc
import hashlib
import inspect
import logging
import os
import sys
import time
from collections.abc import Callable

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from jaxgan import files, parallel
from jaxgan.errors import UserError
from jaxgan.state import GANState

_ARRAY_FIELDS = (
    "step", "gen_params", "gen_batch_stats", "disc_params", "gen_opt_state", "disc_opt_state",
)  # fmt: skip
# Saved only where the state has them (an EMA, D's spectral norms), so the others' checkpoints keep their layout.
_OPTIONAL_FIELDS = ("gen_ema_params", "disc_batch_stats")


class CorruptCheckpointError(Exception):
    """A checkpoint that exists but cannot be read back as it was written."""


def _to_tree(state: GANState) -> dict:
    tree = {name: getattr(state, name) for name in _ARRAY_FIELDS}
    tree["key"] = jax.random.key_data(state.key)
    tree.update({name: getattr(state, name) for name in _OPTIONAL_FIELDS if jax.tree.leaves(getattr(state, name))})
    return tree


def _from_tree(tree: dict, like: GANState) -> GANState:
    names = _ARRAY_FIELDS + tuple(name for name in _OPTIONAL_FIELDS if jax.tree.leaves(getattr(like, name)))
    fields = {name: tree[name] for name in names}
    return like.replace(key=jax.random.wrap_key_data(tree["key"]), **fields)


def _named_leaves(tree) -> list[tuple[str, object]]:
    """(name, leaf) pairs, named as orbax names them ('gen_params.Dense_0.kernel')."""

    def name(path):
        return ".".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)

    return [(name(path), leaf) for path, leaf in jax.tree.leaves_with_path(tree)]


def _digest(tree) -> str:
    """SHA-256 over every leaf's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    for name, leaf in sorted(_named_leaves(jax.device_get(tree)), key=lambda item: item[0]):
        leaf = np.ascontiguousarray(leaf)
        h.update(f"{name}:{leaf.dtype}:{leaf.shape}".encode())
        h.update(leaf.tobytes())
    return h.hexdigest()


def manager(
    directory: str | os.PathLike, max_to_keep: int = 3, read_only: bool = False, keep_period: int | None = None
) -> ocp.CheckpointManager:
    """A manager over ``directory`` that keeps the newest ``max_to_keep`` checkpoints, and also every one
    whose step is a multiple of ``keep_period``.

    A writer (the trainer) removes the leftovers of writes cut short when it
    opens; a reader (generate, evaluate) touches nothing, so it is safe to use
    while a run is training.
    """
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, keep_period=keep_period, create=not read_only,
        cleanup_tmp_directories=not read_only, read_only=read_only,
    )  # fmt: skip
    directory = epath.Path(directory)
    if not files.is_remote(directory):
        directory = directory.absolute()  # orbax wants a local path absolute
    return ocp.CheckpointManager(directory, options=options, item_handlers=ocp.StandardCheckpointHandler())


def save(mngr: ocp.CheckpointManager, state: GANState, epoch: int | None = None) -> None:
    """Saves ``state`` under its step; ``epoch``: the number of the epoch it ends, if it ends one."""
    tree = jax.device_get(_to_tree(state))  # host copies: the caller may donate the state next step
    meta = {"sha256": _digest(tree)} | ({} if epoch is None else {"epoch": epoch})
    mngr.save(int(state.step), args=ocp.args.StandardSave(tree), custom_metadata=meta)


def epoch_ends(mngr: ocp.CheckpointManager) -> dict[int, int]:
    """``{step: epoch}`` of the checkpoints that end an epoch (as ``save`` recorded it), oldest first."""
    ends = {}
    for step in mngr.all_steps():
        with contextlib.suppress(Exception):  # unreadable metadata: restore reports such a checkpoint
            epoch = (mngr.metadata(step).custom_metadata or {}).get("epoch")
            if epoch is not None:
                ends[step] = int(epoch)
    return ends


class BackgroundSaver:
    """Saves checkpoints from a worker thread, in order, one at a time.

    The caller pays for an on-device copy of the state (it may donate the state to
    the next step at once); the host transfer, the checksum and orbax's bookkeeping
    happen meanwhile. On a GPU those took 0.3-0.4 s a save, as long as half an epoch
    of the 28x28 DCGAN there, with the accelerator idle. A save's error surfaces at
    the next ``save``, ``wait`` or ``close``.
    """

    def __init__(self, mngr: ocp.CheckpointManager):
        self.mngr = mngr
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._pending = None

    def save(self, state: GANState, check: Callable[[], None] | None = None, epoch: int | None = None) -> None:
        """Saves ``state`` (which ends ``epoch``, if given); ``check`` runs first, in the worker, and raises to
        prevent the write."""
        copy = parallel.copy(state)
        self._wait_pending()

        def write():
            if check is not None:
                check()
            save(self.mngr, copy, epoch)

        self._pending = self._pool.submit(write)

    def _wait_pending(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def wait(self) -> None:
        """Returns once every save so far is on disk."""
        self._wait_pending()
        self.mngr.wait_until_finished()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown()


def restore(mngr: ocp.CheckpointManager, like: GANState, step: int | None = None) -> GANState:
    """Restores ``step`` (default: latest) into the structure of ``like``.

    Raises UserError, before reading any array, when the checkpoint's arrays do
    not fit ``like`` (another architecture or noise size), and CorruptCheckpointError
    when the checkpoint cannot be read or its arrays do not hash to the digest
    recorded at save time.
    """
    step = mngr.latest_step() if step is None else step
    try:
        stored = {name: tuple(leaf.shape) for name, leaf in _named_leaves(mngr.item_metadata(step))}
    except Exception as e:
        raise CorruptCheckpointError(f"checkpoint {step} in {mngr.directory}: unreadable metadata ({_cause(e)})") from e
    expected = {name: tuple(leaf.shape) for name, leaf in _named_leaves(_to_tree(like))}
    if stored != expected:
        diff = sorted(set(stored.items()) ^ set(expected.items()))[0][0]
        raise UserError(f"checkpoint {step} in {mngr.directory} does not fit this model (first difference: {diff})")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_tree(like))
    unreadable = None
    try:
        tree = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
        recorded = (mngr.metadata(step).custom_metadata or {}).get("sha256")
    except Exception as e:
        unreadable = f"checkpoint {step} in {mngr.directory}: unreadable ({_cause(e)})"
    if unreadable:  # raised here, once the failed read's traceback is garbage
        _collect_abandoned_reads()
        raise CorruptCheckpointError(unreadable)
    if recorded is None:  # its metadata was lost (a write cut short, or damage): nothing to verify against
        raise CorruptCheckpointError(f"checkpoint {step} in {mngr.directory}: no checksum recorded")
    if _digest(tree) != recorded:
        raise CorruptCheckpointError(f"checkpoint {step} in {mngr.directory}: arrays differ from what was saved")
    return _from_tree(tree, like)


def _cause(e: BaseException, limit: int = 240) -> str:
    """The innermost cause of ``e``, as ``Type: message``: orbax wraps TensorStore's error, which names the file
    and the bytes it could not read."""
    while e.__cause__ is not None:
        e = e.__cause__
    return f"{type(e).__name__}: {e}"[:limit]


ORBAX_READ = "_read_array_index_and_device_put"  # orbax's coroutine that reads one array


def _reads_in_flight() -> int:
    """How many of orbax's array reads are still alive (suspended in TensorStore, or not yet collected)."""
    return sum(1 for o in gc.get_objects() if inspect.iscoroutine(o) and o.cr_code.co_name == ORBAX_READ)


def _collect_abandoned_reads(quiet_s: float = 0.25, limit_s: float = 10.0) -> None:
    """Collects, silently, what a failed orbax read leaves behind.

    Orbax reads a checkpoint's arrays as concurrent asyncio tasks. When one fails,
    it closes its event loop while TensorStore's other reads are still in flight.
    Their coroutines and exceptions are dropped unread, and their callbacks find the
    loop closed. As they are garbage-collected or called, asyncio logs "Task exception
    was never retrieved" and Python prints "Exception ignored in: <coroutine ...>" and
    "Event loop is closed" tracebacks: 140 lines of stderr after the one line that
    says the checkpoint is corrupt. This mutes them until none of the reads is alive
    and ``quiet_s`` has passed without one (at most ``limit_s``). A quiet spell alone
    was not enough on a loaded machine, where the reads finish later.
    """
    log = logging.getLogger("asyncio")
    level, hook = log.level, sys.unraisablehook
    last = time.monotonic()  # when the newest one was muted

    def mute(_) -> None:
        nonlocal last
        last = time.monotonic()

    log.setLevel(logging.CRITICAL + 1)
    sys.unraisablehook = mute
    try:
        end = time.monotonic() + limit_s
        while time.monotonic() < end and (time.monotonic() < last + quiet_s or _reads_in_flight()):
            gc.collect()
            time.sleep(0.05)
    finally:
        log.setLevel(level)
        sys.unraisablehook = hook


SET_ASIDE_NOTE = """Checkpoints that did not read back intact (unreadable, or arrays that differ from the
checksum written with them), moved here by jaxgan when the run resumed from an older one.
Kept for inspection; delete them when done.
"""


def restore_latest(mngr: ocp.CheckpointManager, like: GANState, warn=print, set_aside: bool = True) -> GANState | None:
    """The newest checkpoint that reads back intact, or None when there is none at all.

    Each corrupt newer checkpoint gets a warning and, with ``set_aside``, is
    moved to ``<checkpoints>/../corrupt_checkpoints`` (kept for inspection, out
    of the way of the steps a resumed run will save). A checkpoint that does not fit ``like`` counts as
    corrupt when an older one fits (one run never changes shape); when none
    fits, the UserError says that the workdir holds another model. When every
    checkpoint is corrupt, nothing is moved and UserError says so.
    """
    corrupt, misfit = [], None
    for step in reversed(mngr.all_steps()):
        try:
            state = restore(mngr, like, step)
        except (CorruptCheckpointError, UserError) as e:
            if isinstance(e, UserError):
                misfit = misfit or e
            warn(f"warning: {e}")
            corrupt.append(step)
            continue
        if corrupt and set_aside:
            directory = epath.Path(mngr.directory)
            aside = directory.parent / "corrupt_checkpoints"
            aside.mkdir(exist_ok=True)
            # In an object store a folder exists only through an object in it, and epath moves into existing ones.
            (aside / "README.txt").write_text(SET_ASIDE_NOTE)
            for bad in corrupt:
                (directory / str(bad)).rename(aside / f"{bad}-{time.strftime('%Y%m%d-%H%M%S')}")
            mngr.reload()
            warn(f"warning: fell back to checkpoint {step}; the corrupt ones are moved to {aside}")
        return state
    if misfit:
        raise misfit
    if corrupt:
        raise UserError(
            f"no intact checkpoint in {mngr.directory} (corrupt: {sorted(corrupt)}); move it away to start over"
        )
    return None
