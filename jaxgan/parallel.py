"""Data parallelism with JAX's own runtime: one ``data`` mesh axis over every device of every process.

The step functions stay global-view programs: a jitted step whose batch is
sharded along ``data`` and whose state is replicated is partitioned by XLA,
which inserts the all-reduces of the gradients and of the BatchNorm batch
moments (so BatchNorm sees the global batch, as on one device). On one device
the code path is the same, with a mesh of one.

Multi-process (Cloud TPU pod slices, GPU clusters): call
:func:`initialize_distributed` first in every process; the mesh then spans the
devices of all processes, and :func:`put_replicated` / :func:`batch_spec`
place data so that each process materializes only the rows of the global
batch that its own devices use.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgan import data

AXIS = "data"


def initialize_distributed(**kwargs) -> None:
    """``jax.distributed.initialize`` (cluster auto-detection on TPU pods, SLURM, Open MPI, or kwargs).

    CPU processes talk over gloo; TPU and GPU backends bring their own collectives.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**kwargs)


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` devices (default: all, across processes)."""
    devices = jax.devices()[: num_devices or None]
    return Mesh(np.asarray(devices), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_spec(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over the ``data`` axis."""
    return NamedSharding(mesh, PartitionSpec(AXIS))


def put_replicated(tree, mesh: Mesh):
    """Arrays that are equal in every process -> global arrays with a full copy on every device.

    Each process fills only its own devices (``device_put`` cannot target
    another process's devices). Typed PRNG keys travel as their key data.
    """
    sharding = replicated(mesh)

    def put(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


@jax.jit
def copy(tree):
    """A copy of ``tree`` in new buffers with the same shardings, also of arrays that span
    processes: it outlives the donation of the original (outputs never alias inputs that
    are not donated)."""
    return jax.tree.map(jnp.copy, tree)


def shard_batch(batch, mesh: Mesh):
    """Inside a jitted step: lay the batch out along ``data`` (each device computes only its rows)."""
    return jax.lax.with_sharding_constraint(batch, batch_spec(mesh))


def epoch_step(train_step, mesh: Mesh, steps_per_epoch: int, batch_size: int, image_size: int | None = None):
    """``(state, images, perm, labels=None) -> (state, metrics)``: the batch of ``state.step`` in the
    epoch ordered by ``perm``, gathered from the replicated ``images`` (and ``labels``, for
    class-conditional training) straight into its shards (resized to ``image_size`` if given),
    then ``train_step``.

    Pure and unjitted like ``train_step``; the data position is a function of the step, which is
    what makes a resumed run continue exactly where it stopped.
    """

    def step(state, images, perm, labels=None):
        batch = data.batch_at(images, perm, state.step % steps_per_epoch, batch_size, image_size, labels)
        return train_step(state, shard_batch(batch, mesh))

    return step
