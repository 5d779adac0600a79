"""The project's error hierarchy: every domain error is a ColearnError, and also the builtin it resembles."""

from __future__ import annotations


class ColearnError(Exception):
    """Base of every error this project raises on purpose; the CLI prints these as one line."""


class ColearnValueError(ColearnError, ValueError):
    """Bad input: a value the user (or a caller) supplied cannot be used as given."""


class ColearnFileError(ColearnError, OSError):
    """A file the user named cannot be read, written or understood."""


class ColearnRuntimeError(ColearnError, RuntimeError):
    """Something the project depends on (a compiler, a node, a peer) did not behave."""
