"""Trains a few steps on data-parallel meshes and saves each final state (a subprocess of test_parallel.py).

    python -m tests.data_parallel_worker --out DIR --runs 8:float32 1:float32 1:bfloat16
        [--num-processes 2 --process-id I --coordinator localhost:PORT]

Each run ``DEVICES:DTYPE`` (0 devices: all of them, across processes) writes
``DIR/DEVICES_DTYPE.npz``. The device count of a process comes from
XLA_FLAGS=--xla_force_host_platform_device_count=N in its environment.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import models, parallel, steps
from jaxgan.state import create_state

NUM_IMAGES, BATCH, STEPS = 64, 16, 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", nargs="+", default=["0:float32"])
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--coordinator", default="")
    args = parser.parse_args()
    if args.num_processes > 1:
        parallel.initialize_distributed(
            coordinator_address=args.coordinator, num_processes=args.num_processes, process_id=args.process_id
        )
    for run in args.runs:
        devices, dtype = run.split(":")
        train(parallel.make_mesh(int(devices) or None), jnp.dtype(dtype), f"{args.out}/{devices}_{dtype}.npz")


def train(mesh, dtype, out: str) -> None:
    # Adam divides by sqrt(v) + eps: with eps this large, a gradient near zero whose
    # sign the cross-device sum order can flip moves its parameter by ~lr * g / eps,
    # not by +-lr, so the runs stay within float tolerance of each other.
    tx = optax.adam(1e-3, b1=0.5, eps=1e-3)
    state = create_state(
        jax.random.key(0), models.Generator(dtype=dtype), models.Discriminator(dtype=dtype), tx, tx, 100, (28, 28, 1)
    )
    images = np.random.default_rng(0).integers(0, 256, (NUM_IMAGES, 28, 28, 1), dtype=np.uint8)
    state, images = parallel.put_replicated((state, images), mesh)
    perm = parallel.put_replicated(np.random.default_rng(1).permutation(NUM_IMAGES), mesh)
    step = jax.jit(parallel.epoch_step(steps.train_step, mesh, NUM_IMAGES // BATCH, BATCH), donate_argnums=0)
    losses = []
    for _ in range(STEPS):
        state, metrics = step(state, images, perm)
        losses.append([float(metrics["disc/loss"]), float(metrics["gen/loss"])])
    if jax.process_index() == 0:
        leaves = jax.tree.leaves(state.replace(key=jax.random.key_data(state.key)))
        np.savez(out, losses=np.array(losses), mesh_size=mesh.size, **{f"leaf_{i}": x for i, x in enumerate(leaves)})


if __name__ == "__main__":
    main()
