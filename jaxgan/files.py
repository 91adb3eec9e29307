"""Run folders on a local disk or in an object store (``gs://``), through ``etils.epath``.

Orbax writes checkpoints through the same paths. Object stores differ from disks in
two ways that matter here: an object appears whole once its upload ends (so a write is
atomic by itself, and a rename is a copy), and an object cannot be appended to (so a
growing file is rewritten whole; gcsfs's append mode silently starts the file over).
"""

import contextlib
import io
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from etils import epath


def cache_dir() -> Path:
    """jaxgan's cache folder: ``JAXGAN_CACHE_DIR``, else ``~/.cache/jaxgan``."""
    return Path(os.environ.get("JAXGAN_CACHE_DIR") or Path.home() / ".cache" / "jaxgan")


def is_remote(p: str | os.PathLike) -> bool:
    """Whether ``p`` names an object store (``scheme://...``) rather than a local file."""
    return "://" in os.fspath(p)


def write_atomic(p: epath.Path, data: str | bytes) -> None:
    """Writes ``data`` so that a reader sees the old file or the new one, never a part.

    Locally through a temporary file and a rename; in an object store the upload
    itself is all or nothing, and a rename would copy the object a second time.
    """
    data = data.encode() if isinstance(data, str) else data
    if is_remote(p):
        p.write_bytes(data)
        return
    # A name of its own: processes writing one path at once (the hosts of a pod sharing a folder) must not
    # write into each other's temporary file. Nothing is left behind if the write fails.
    tmp = os.fspath(p) + f".{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_from(p: str | os.PathLike, save: Callable[[BinaryIO], object]) -> None:
    """Writes what ``save(file)`` writes into a file object (PIL, matplotlib, numpy, zipfile) to ``p``,
    through :func:`write_atomic`."""
    buffer = io.BytesIO()
    save(buffer)
    write_atomic(epath.Path(p), buffer.getvalue())
