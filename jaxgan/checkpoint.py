"""Orbax checkpoints of a GANState.

Only the array leaves are saved; the modules and optimizers come from the
config, so a checkpoint restores into a state built the same way. The PRNG key
is stored as its raw uint32 data.
"""

from pathlib import Path

import jax
import orbax.checkpoint as ocp

from jaxgan.errors import UserError
from jaxgan.state import GANState

_ARRAY_FIELDS = (
    "step", "gen_params", "gen_batch_stats", "disc_params", "gen_opt_state", "disc_opt_state",
)  # fmt: skip


def _to_tree(state: GANState) -> dict:
    tree = {name: getattr(state, name) for name in _ARRAY_FIELDS}
    tree["key"] = jax.random.key_data(state.key)
    return tree


def _from_tree(tree: dict, like: GANState) -> GANState:
    fields = {name: tree[name] for name in _ARRAY_FIELDS}
    return like.replace(key=jax.random.wrap_key_data(tree["key"]), **fields)


def manager(directory: str | Path, max_to_keep: int = 3) -> ocp.CheckpointManager:
    """A manager over ``directory``; orbax writes each step to a temporary name, then renames it."""
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    return ocp.CheckpointManager(
        Path(directory).absolute(), options=options, item_handlers=ocp.StandardCheckpointHandler()
    )


def save(mngr: ocp.CheckpointManager, state: GANState) -> None:
    step = int(state.step)
    mngr.save(step, args=ocp.args.StandardSave(_to_tree(state)))


def _shapes(tree) -> dict[str, tuple]:
    """Leaf name (as orbax names them, 'gen_params.Dense_0.kernel') -> shape."""

    def name(path):
        return ".".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path)

    return {name(path): tuple(leaf.shape) for path, leaf in jax.tree.leaves_with_path(tree)}


def restore(mngr: ocp.CheckpointManager, like: GANState, step: int | None = None) -> GANState:
    """Restores ``step`` (default: latest) into the structure of ``like``.

    Raises UserError, before reading any array, when the checkpoint's arrays do
    not fit ``like`` (another architecture or noise size).
    """
    step = mngr.latest_step() if step is None else step
    expected = _shapes(_to_tree(like))
    stored = _shapes(mngr.item_metadata(step))
    if stored != expected:
        diff = sorted(set(stored.items()) ^ set(expected.items()))[0][0]
        raise UserError(f"checkpoint {step} in {mngr.directory} does not fit this model (first difference: {diff})")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_tree(like))
    tree = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
    return _from_tree(tree, like)
