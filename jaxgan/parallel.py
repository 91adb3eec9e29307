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
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def initialize_distributed(**kwargs) -> None:
    """``jax.distributed.initialize`` (cluster auto-detection on TPU pods, SLURM, Open MPI, or kwargs)."""
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


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    if batch_size % mesh.size:
        raise ValueError(f"batch size {batch_size} does not divide evenly over {mesh.size} devices")


def put_replicated(tree, mesh: Mesh):
    """Host arrays (the same in every process) -> global arrays with a full copy on every device."""
    sharding = replicated(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_callback(np.shape(x), sharding, lambda idx: x[idx]), tree)


def shard_batch(batch, mesh: Mesh):
    """Inside a jitted step: lay the batch out along ``data`` (each device computes only its rows)."""
    return jax.lax.with_sharding_constraint(batch, batch_spec(mesh))
