"""Turns a frozen config dataclass into command-line flags (``batch_size`` -> ``--batch-size``).

Only experiments parse argv; the library takes config values as arguments.
"""

import argparse
import dataclasses
import sys

from jaxgan.errors import UserError


def flag(default, help: str):
    """A config field with its help text."""
    return dataclasses.field(default=default, metadata={"help": help})


def parse(config_cls, argv: list[str] | None = None, description: str = ""):
    """Parses argv into ``config_cls``; bad values exit with code 2 and one line (argparse's own)."""
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    for f in dataclasses.fields(config_cls):
        name = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (default: {f.default!r})"
        if f.type is bool or f.type == "bool":
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=f.default, help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}.get(f.type, f.type)
            parser.add_argument(name, type=kind, default=f.default, help=help_text)
    return config_cls(**vars(parser.parse_args(argv)))


def run(main, *args) -> int:
    """Calls ``main``; a UserError becomes ``error: ...`` on stderr and exit code 2."""
    try:
        return main(*args) or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
