"""The one exception type that experiments turn into a one-line message and exit code 2."""


class UserError(Exception):
    """A mistake the user can fix (bad flag, missing file, mismatched workdir)."""
