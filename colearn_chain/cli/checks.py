"""Checks of command-line values, done before a command prints or does anything.

Typer only checks that a value parses (``nan`` is a float); these check that it makes sense,
so that a command never acts on the chain and then fails on its own option.
"""

from __future__ import annotations

import math
import socket
from pathlib import Path

from colearn_chain.errors import ColearnFileError, ColearnValueError


def positive_seconds(option: str, value: float) -> float:
    """``value`` if it is a positive, finite number of seconds."""
    if not math.isfinite(value) or value <= 0:
        raise ColearnValueError(f"{option} must be a positive number of seconds, got {value:g}")
    return value


def non_negative_seconds(option: str, value: float) -> float:
    """``value`` if it is a finite number of seconds, 0 or more."""
    if not math.isfinite(value) or value < 0:
        raise ColearnValueError(f"{option} must be 0 or a positive number of seconds, got {value:g}")
    return value


def non_negative(option: str, value: int | None) -> int | None:
    """``value`` (None: not given) if it is 0 or more."""
    if value is not None and value < 0:
        raise ColearnValueError(f"{option} must be 0 or more, got {value}")
    return value


def output_file(option: str, path: Path, suffixes: tuple[str, ...] | None = None) -> Path:
    """A file ``path`` can be written to: its folder exists, it is not a folder, its suffix fits."""
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise ColearnValueError(f"{option} {path}: the name must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise ColearnFileError(f"{option} {path} is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise ColearnFileError(f"{option} {path}: the folder {folder} does not exist")
    return path


def free_local_port(option: str, port: int) -> int:
    """``port`` (0: any) if it is a TCP port nothing on 127.0.0.1 listens on."""
    if not 0 <= port <= 65535:
        raise ColearnValueError(f"{option} must be a TCP port in 0..65535, got {port}")
    if port == 0:
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            message = f"{option} {port} is in use on 127.0.0.1 ({exc.strerror}): choose another"
            raise ColearnValueError(message) from None
    return port


def data_file(option: str, path: Path | None) -> Path | None:
    """``path`` (None: not given) if it loads as a user's data set, checked in full now.

    The loader's checks (finite, float32-representable features; integer labels that are
    class indices; at least two classes) run before a results directory, a keystore or a
    chain is touched; the file is read again when the learners are built. A ``.json`` file is
    an RL participant's own environment (its variant's parameters): the task checks it when it
    builds the learner, before any chain or store is touched.
    """
    if path is not None and path.suffix.lower() != ".json":
        from learners.data import load_data_file

        load_data_file(path)
    return path
