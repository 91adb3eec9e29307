import importlib
import inspect
import os
import sys
import threading
import time

import jax
import optax
import pytest

from jaxgan import checkpoint, models, steps
from jaxgan.errors import UserError
from jaxgan.state import create_state
from tests.helpers import assert_trees_equal


def make_state(noise_dim=100, spectral_norm=False):
    tx = optax.adam(1e-3, b1=0.5)
    disc = models.Discriminator(spectral_norm=spectral_norm)
    return create_state(jax.random.key(3), models.Generator(), disc, tx, tx, noise_dim, (28, 28, 1))


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_round_trip_leaf_by_leaf(tmp_path, spectral_norm):
    """Everything comes back, D's spectral norms' vectors too (names with '/' in them)."""
    state = make_state(spectral_norm=spectral_norm)
    batch = {"image": jax.random.uniform(jax.random.key(1), (4, 28, 28, 1), minval=-1, maxval=1)}
    state, _ = jax.jit(steps.train_step)(state, batch)  # non-trivial optimizer state and step
    mngr = checkpoint.manager(tmp_path)
    checkpoint.save(mngr, state)
    mngr.wait_until_finished()

    restored = checkpoint.restore(checkpoint.manager(tmp_path), make_state(spectral_norm=spectral_norm))
    assert_trees_equal(state, restored)
    assert int(restored.step) == 1
    assert len(jax.tree.leaves(restored.disc_batch_stats)) == (6 if spectral_norm else 0)


def test_restore_into_another_model_is_a_clear_error(tmp_path):
    mngr = checkpoint.manager(tmp_path)
    checkpoint.save(mngr, make_state())
    mngr.wait_until_finished()
    with pytest.raises(UserError, match="does not fit this model.*Dense_0"):
        checkpoint.restore(checkpoint.manager(tmp_path), make_state(noise_dim=64))


def test_keeps_the_last_three(tmp_path):
    state = make_state()
    mngr = checkpoint.manager(tmp_path)
    for step in range(5):
        checkpoint.save(mngr, state.replace(step=state.step + step))
    mngr.wait_until_finished()
    assert mngr.all_steps() == [2, 3, 4]


def test_keeps_every_period_and_knows_which_checkpoints_end_epochs(tmp_path):
    """Steps 0-9 as a run of 2-step epochs saves them (every step, the epoch ends marked), keeping every 4th."""
    state = make_state()
    mngr = checkpoint.manager(tmp_path, keep_period=4)
    for step in range(10):
        checkpoint.save(mngr, state.replace(step=state.step + step), epoch=step // 2 if step % 2 == 0 else None)
    mngr.wait_until_finished()
    assert mngr.all_steps() == [0, 4, 7, 8, 9]
    reader = checkpoint.manager(tmp_path, read_only=True)
    assert checkpoint.epoch_ends(reader) == {0: 0, 4: 2, 8: 4}


def test_background_saves_write_the_state_as_it_was_when_saved(tmp_path):
    """Each save holds the state passed to it although the caller donates that state right after."""
    state = make_state()
    batch = {"image": jax.random.uniform(jax.random.key(1), (4, 28, 28, 1), minval=-1, maxval=1)}
    step = jax.jit(steps.train_step, donate_argnums=0)
    saver = checkpoint.BackgroundSaver(checkpoint.manager(tmp_path))
    expected = []
    for _ in range(3):
        state, _ = step(state, batch)
        expected.append(jax.device_get(state))
        saver.save(state)
    saver.close()
    mngr = checkpoint.manager(tmp_path, read_only=True)
    assert mngr.all_steps() == [1, 2, 3]
    for n, want in zip([1, 2, 3], expected, strict=True):
        assert_trees_equal(checkpoint.restore(mngr, make_state(), n), want)


def test_a_failed_background_check_writes_nothing_and_surfaces_at_the_next_call(tmp_path):
    def diverged():
        raise UserError("training diverged")

    saver = checkpoint.BackgroundSaver(checkpoint.manager(tmp_path))
    state = make_state()
    saver.save(state, check=diverged)
    with pytest.raises(UserError, match="diverged"):
        saver.save(state.replace(step=state.step + 1))
    saver.close()  # the error was reported once
    assert checkpoint.manager(tmp_path, read_only=True).all_steps() == []


def three_checkpoints(tmp_path):
    """Checkpoints at steps 0, 1, 2 of one state in ``tmp_path/checkpoints``; returns (folder, state)."""
    state = make_state()
    folder = tmp_path / "checkpoints"
    mngr = checkpoint.manager(folder)
    for step in range(3):
        checkpoint.save(mngr, state.replace(step=state.step + step))
    mngr.wait_until_finished()
    return folder, state


def largest_file(folder):
    return max((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def truncate(path):
    os.truncate(path, path.stat().st_size // 2)


def flip_bytes(path):
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))


def blank_metadata(path):
    path.write_text("")


@pytest.mark.parametrize("damage", [truncate, flip_bytes, blank_metadata])
def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, damage):
    folder, state = three_checkpoints(tmp_path)
    damage(largest_file(folder / "2") if damage is not blank_metadata else folder / "2" / "_CHECKPOINT_METADATA")
    warnings = []
    restored = checkpoint.restore_latest(checkpoint.manager(folder), make_state(), warn=warnings.append)
    assert int(restored.step) == 1
    assert_trees_equal(restored, state.replace(step=state.step + 1))
    assert "checkpoint 2" in warnings[0] and "fell back to checkpoint 1" in warnings[-1]
    assert sorted(p.name for p in folder.iterdir()) == ["0", "1"]
    aside, note = sorted((tmp_path / "corrupt_checkpoints").iterdir())
    assert aside.name.startswith("2-") and note.read_text() == checkpoint.SET_ASIDE_NOTE
    # Training on saves step 2 again, where the corrupt one was.
    mngr = checkpoint.manager(folder)
    checkpoint.save(mngr, restored.replace(step=restored.step + 1))
    mngr.wait_until_finished()
    assert mngr.all_steps() == [0, 1, 2]


def test_a_reader_does_not_move_corrupt_checkpoints(tmp_path):
    folder, _ = three_checkpoints(tmp_path)
    flip_bytes(largest_file(folder / "2"))
    mngr = checkpoint.manager(folder, read_only=True)
    restored = checkpoint.restore_latest(mngr, make_state(), warn=lambda _: None, set_aside=False)
    assert int(restored.step) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["0", "1", "2"]


def test_no_intact_checkpoint_left_is_a_clear_error_and_moves_nothing(tmp_path):
    folder, _ = three_checkpoints(tmp_path)
    for step in "012":
        truncate(largest_file(folder / step))
    with pytest.raises(UserError, match=r"no intact checkpoint .*\[0, 1, 2\]"):
        checkpoint.restore_latest(checkpoint.manager(folder), make_state(), warn=lambda _: None)
    assert sorted(p.name for p in folder.iterdir()) == ["0", "1", "2"]
    assert not (tmp_path / "corrupt_checkpoints").exists()


def test_checkpoints_of_another_model_are_not_taken_for_corrupt_ones(tmp_path):
    folder, _ = three_checkpoints(tmp_path)
    with pytest.raises(UserError, match="does not fit this model"):
        checkpoint.restore_latest(checkpoint.manager(folder), make_state(noise_dim=64), warn=lambda _: None)
    assert sorted(p.name for p in folder.iterdir()) == ["0", "1", "2"]


def test_an_empty_folder_has_no_checkpoint(tmp_path):
    assert checkpoint.restore_latest(checkpoint.manager(tmp_path), make_state()) is None


def test_the_orbax_reader_waited_for_is_still_there():
    """The wait below counts orbax's read coroutines by name (a private one): an orbax that renamed it would
    leave only the quiet spell, and the muted tracebacks could come back on a loaded machine."""
    serialization = importlib.import_module("orbax.checkpoint._src.serialization.serialization")
    assert inspect.iscoroutinefunction(getattr(serialization, checkpoint.ORBAX_READ, None))


def test_abandoned_reads_are_waited_for_and_muted(monkeypatch):
    """What a failed read leaves behind is collected without a word however late its read ends: the wait
    lasts while one of orbax's read coroutines is alive, not only for a quiet spell (0.05 s here)."""

    class Pending:
        def __await__(self):
            yield

    async def _read_array_index_and_device_put():  # named as orbax's reader
        try:
            await Pending()
        except GeneratorExit:
            raise RuntimeError("Event loop is closed") from None

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    read = _read_array_index_and_device_put()
    read.send(None)  # suspended, as in TensorStore
    held = [read]
    del read
    threading.Timer(0.6, held.clear).start()  # the read ends 0.6 s on, and is dropped
    start = time.monotonic()
    checkpoint._collect_abandoned_reads(quiet_s=0.05)
    assert time.monotonic() - start >= 0.6
    assert not held and seen == []
    assert sys.unraisablehook == seen.append
