"""Errors the CLI reports as one line (no traceback) with a non-zero exit status."""
from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, explained in the message.

    The library raises its own typed errors (ValueError subclasses); CLI handlers translate the
    ones a user can fix into ``UserError`` so ``advisor`` prints ``advisor CMD: error: MESSAGE``.
    """
