"""The directory a ``colearn-chain run`` writes: what is in it, when it may be (re)used, and reading it back.

A run directory holds ``results.json`` (rewritten atomically after every round, with the run's
``status``), ``deployment.json`` (for a chain; the format ``deploy`` writes), ``chain.jsonl``
(the embedded chain's journal, see :mod:`colearn_chain.chain.journal`), the content store
``store/``, the plots and, with ``--audit``, ``audit.json``. This module decides, before
anything is created, whether ``--out`` may be used, and reads a directory back for ``audit DIR``
and ``run --resume DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from colearn_chain.errors import ColearnFileError, ColearnValueError
from colearn_chain.records import RoundRecord

if TYPE_CHECKING:
    from colearn_chain.chain import Chain

RESULTS = "results.json"
DEPLOYMENT = "deployment.json"
JOURNAL = "chain.jsonl"
STORE = "store"
AUDIT = "audit.json"
MODEL = "model.onnx"
PLOTS = ("accuracy.png", "votes.png")
#: Everything a run writes: ``--force`` deletes a directory only if it holds nothing else.
RUN_ENTRIES = frozenset({RESULTS, DEPLOYMENT, JOURNAL, STORE, AUDIT, MODEL, *PLOTS})


class RunDirectoryError(ColearnFileError):
    """``--out`` or ``--resume`` names a directory that cannot be used as asked (says what to do)."""


def default_out_dir() -> Path:
    """``runs/run-DATE-TIME``, where ``run`` writes when no ``--out`` is given."""
    return Path("runs") / datetime.now().strftime("run-%Y%m%d-%H%M%S")


def _is_run_entry(name: str) -> bool:
    return name in RUN_ENTRIES or (name.startswith(".") and name.endswith(".tmp"))  # an atomic write's leftover


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is a directory that holds what a run writes and nothing else."""
    if not path.is_dir():
        return False
    names = [entry.name for entry in path.iterdir()]
    return bool(names) and all(_is_run_entry(name) for name in names)


def describe(path: Path) -> str:
    """How far the run in ``path`` went, from its results.json (for messages)."""
    try:
        data = json.loads((path / RESULTS).read_text())
        return f"{data.get('status', 'complete')} after {len(data.get('rounds', []))} rounds"
    except (OSError, ValueError, AttributeError, TypeError):
        return "without results"


def check_out_dir(out: Path, force: bool = False) -> None:
    """Refuse, before anything is created, an ``--out`` that a new run cannot use.

    New or empty: fine. A previous run's directory: refused with the two ways out, unless
    ``force`` (it is then replaced). Anything else (a file, a directory of other files, a place
    that cannot be written): refused, ``force`` or not.
    """
    if out.exists():
        if not out.is_dir():
            raise RunDirectoryError(f"--out {out} is a file: choose a new or empty directory")
        if not any(out.iterdir()):
            return
        if is_run_dir(out):
            if force:
                return
            raise RunDirectoryError(
                f"--out {out} holds a run ({describe(out)}): `colearn-chain run --resume {out}` continues it, "
                f"`--out {out} --force` replaces it"
            )
        raise RunDirectoryError(
            f"--out {out} is occupied by files that are not a run's: choose a new or empty directory"
            + (" (--force replaces only a run directory)" if force else "")
        )
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirectoryError(f"cannot create --out {out}: {parent} is not a writable directory")


def create_out_dir(out: Path, force: bool = False) -> Path:
    """Create ``out`` (checked by :func:`check_out_dir`); with ``force``, replace the run in it."""
    if force and is_run_dir(out):
        shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunDirectoryError(f"cannot create --out {out}: {exc.strerror}") from exc
    return out


def deployment_file(path: Path) -> Path:
    """The deployment file ``path`` names: the file itself, or a run directory's ``deployment.json``."""
    if path.is_dir():
        file = path / DEPLOYMENT
        if not file.is_file():
            raise ColearnFileError(
                f"{path} has no {DEPLOYMENT}: give a deployment file or the directory of a run on a chain "
                "(an --in-memory run has none)"
            )
        return file
    return path


def run_store(deployment_path: Path, recorded: str) -> str:
    """The store to audit: the recorded one, or the run directory's ``store/`` if the directory was moved."""
    local = Path(recorded.removeprefix("file://"))
    beside = deployment_path.parent / STORE
    if "://" not in recorded.replace("file://", "") and not local.exists() and beside.is_dir():
        return str(beside)
    return recorded


def saved_chain(deployment_path: Path, rpc_url: str) -> Chain | None:
    """For a deployment on a run's embedded chain, that chain rebuilt from the journal beside it; else None.

    Raises
    ------
    ColearnFileError
        The journal is missing or does not replay as recorded.
    """
    from colearn_chain.chain.journal import replay_journal
    from colearn_chain.simulation import EMBEDDED_RPC

    if rpc_url != EMBEDDED_RPC:
        return None
    journal = deployment_path.parent / JOURNAL
    if not journal.is_file():
        raise ColearnFileError(
            f"{deployment_path} was deployed on a run's embedded chain, kept in {journal}: that file is missing"
        )
    return replay_journal(journal)


@dataclass(frozen=True)
class SavedRun:
    """A run directory read back for ``run --resume``."""

    directory: Path
    status: str
    settings: dict[str, Any]
    rounds: list[RoundRecord]
    training_counts: list[int | None] | None
    audited: bool
    initial_score: float | None = None


def load_results(directory: Path) -> dict[str, Any]:
    """``directory``'s results.json, as a dict."""
    path = directory / RESULTS
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise RunDirectoryError(
            f"{directory} has no {RESULTS}: it is not the directory of a started run (`--out {directory} --force` "
            "replaces what is in it)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise RunDirectoryError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RunDirectoryError(f"{path} is not a JSON object")
    return data


def load_saved_run(directory: Path) -> SavedRun:
    """What ``run --resume`` continues from, or one line saying why ``directory`` cannot be resumed."""
    from colearn_chain.simulation import CannotResume

    if not directory.is_dir():
        raise RunDirectoryError(f"--resume {directory}: there is no such directory")
    data = load_results(directory)
    status = str(data.get("status", "complete"))
    rounds = data.get("rounds")
    settings = data.get("settings")
    if not isinstance(rounds, list) or not isinstance(settings, dict):
        raise RunDirectoryError(f"{directory / RESULTS} has no rounds or settings: it was not written by `run`")
    if status == "complete":
        raise CannotResume(f"the run in {directory} is complete ({len(rounds)} rounds): there is nothing to resume")
    if data.get("contract") is None:
        raise CannotResume(
            f"the run in {directory} has no chain to continue on (it ran on the in-memory ledger, or failed "
            f"before it was deployed): start it again with `--out {directory} --force`"
        )
    if settings.get("dp") is not None:
        raise CannotResume(
            f"the run in {directory} trains with differential privacy, whose accountants' state is not kept: "
            f"start it again with `--out {directory} --force`"
        )
    try:
        records = [RoundRecord.from_json(record) for record in rounds]
    except (TypeError, AttributeError) as exc:
        raise RunDirectoryError(f"{directory / RESULTS} has a malformed round: {exc}") from exc
    resume = data.get("resume") or {}
    counts = resume.get("training_counts") if isinstance(resume, dict) else None
    audited = (directory / AUDIT).exists()
    initial = data.get("initial_score")
    return SavedRun(
        directory, status, settings, records, counts if isinstance(counts, list) else None, audited,
        float(initial) if isinstance(initial, int | float) else None,
    )  # fmt: skip


def recorded_cost(directory: Path, contract: str) -> tuple[Path | None, int] | None:
    """The cost matrix source (``cost`` file, ``cost_seed``) of the run in ``directory`` on ``contract``.

    ``audit DIR`` reports the hand-over costs with the run's own matrix, so that its report
    agrees with ``run --audit``'s; None when ``directory`` holds no results of that contract.
    """
    try:
        data = load_results(directory)
    except ColearnFileError:
        return None
    settings = data.get("settings")
    if str(data.get("contract", "")).lower() != contract.lower() or not isinstance(settings, dict):
        return None
    try:
        cost = settings.get("cost")
        return (Path(cost) if cost else None), int(settings.get("cost_seed") or 0)
    except (TypeError, ValueError) as exc:
        raise ColearnValueError(f"{directory / RESULTS}: malformed cost settings ({exc})") from exc
