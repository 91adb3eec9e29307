"""Turns a frozen config dataclass into command-line flags (``batch_size`` -> ``--batch-size``).

A trailing underscore, for names Python reserves, is dropped: ``class_`` -> ``--class``.

Only experiments parse argv; the library takes config values as arguments.
"""

import argparse
import dataclasses
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path

from etils import epath

from jaxgan import files
from jaxgan.errors import UserError


def flag(default, help: str):
    """A config field with its help text."""
    return dataclasses.field(default=default, metadata={"help": help})


def parse(config_cls, argv: list[str] | None = None, description: str = ""):
    """Parses argv into ``config_cls``; bad values exit with code 2 and one line (argparse's own)."""
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    for f in dataclasses.fields(config_cls):
        name = "--" + f.name.rstrip("_").replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (default: {f.default!r})"
        if f.type is bool or f.type == "bool":
            parser.add_argument(
                name, action=argparse.BooleanOptionalAction, default=f.default, help=help_text, dest=f.name
            )
        else:
            kind = {"int": int, "float": float, "str": str}.get(f.type, f.type)
            parser.add_argument(name, type=kind, default=f.default, help=help_text, dest=f.name)
    return config_cls(**vars(parser.parse_args(argv)))


def run(main, *args) -> int:
    """Calls ``main``; a UserError becomes ``error: ...`` on stderr and exit code 2.

    Library chatter on the absl logger (orbax, tfds) below ERROR is hidden: our
    own messages say what matters, in one line.
    """
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        return main(*args) or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def check_writable(folder: os.PathLike) -> None:
    """UserError unless ``folder`` exists as a writable folder or could be created.

    Tried by creating (and at once deleting) a temporary file in the folder or
    its nearest existing parent, which also catches read-only file systems and
    cases where permission bits say nothing (root). In an object store, by writing
    and deleting an object in it.
    """
    if files.is_remote(folder):
        _check_remote_writable(epath.Path(folder))
        return
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot write to {folder}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise UserError(f"cannot write to {folder}: {e.strerror or e}") from e


def _check_remote_writable(folder) -> None:
    if os.fspath(folder).startswith("gs://"):
        try:
            import google.cloud.storage  # noqa: F401  (tensorboardX writes gs:// through it)
        except ImportError:
            raise UserError(
                f"{folder}: TensorBoard needs google-cloud-storage for gs://; pip install -e '.[gcs]'"
            ) from None
    probe = folder / f".jaxgan-write-probe-{socket.gethostname()}-{os.getpid()}"  # one per process of a pod
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except Exception as e:  # each store's client has its own errors (OSError, tf.errors, google.api_core)
        raise UserError(f"cannot write to {folder}: {type(e).__name__}: {e}") from e
