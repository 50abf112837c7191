"""The exceptions of bad input files, shared by every loader and every command line.

An :class:`InputError` carries one line that names the file and what is wrong with it; the command
lines print it as ``cgexplain <command>: error: <message>`` and return 2 instead of showing a
traceback (:func:`report`).
"""

from __future__ import annotations

import sys


class InputError(ValueError):
    """An input file is missing, unreadable, inconsistent or implausible (the message names it)."""


class MissingInputError(InputError, FileNotFoundError):
    """An input file does not exist (also a ``FileNotFoundError``, for callers that catch that)."""


def one_line(exc: BaseException) -> str:
    """The exception's message on one line."""
    return " ".join(str(exc).split())


def report(command: str, exc: BaseException, rc: int = 2) -> int:
    """Print ``cgexplain <command>: error: <message>`` on stderr; returns the exit code ``rc``."""
    print(f"cgexplain {command}: error: {one_line(exc)}", file=sys.stderr, flush=True)
    return rc


__all__ = ["InputError", "MissingInputError", "one_line", "report"]
