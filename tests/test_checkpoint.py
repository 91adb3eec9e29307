import jax
import optax
import pytest

from jaxgan import checkpoint, models, steps
from jaxgan.errors import UserError
from jaxgan.state import create_state
from tests.helpers import assert_trees_equal


def make_state(noise_dim=100):
    tx = optax.adam(1e-3, b1=0.5)
    return create_state(jax.random.key(3), models.Generator(), models.Discriminator(), tx, tx, noise_dim, (28, 28, 1))


def test_round_trip_leaf_by_leaf(tmp_path):
    state = make_state()
    batch = {"image": jax.random.uniform(jax.random.key(1), (4, 28, 28, 1), minval=-1, maxval=1)}
    state, _ = jax.jit(steps.train_step)(state, batch)  # non-trivial optimizer state and step
    mngr = checkpoint.manager(tmp_path)
    checkpoint.save(mngr, state)
    mngr.wait_until_finished()

    restored = checkpoint.restore(checkpoint.manager(tmp_path), make_state())
    assert_trees_equal(state, restored)
    assert int(restored.step) == 1


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
