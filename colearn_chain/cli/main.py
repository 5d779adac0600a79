"""Entry point of ``colearn-chain``: registers the commands and turns errors into one line.

Domain errors (every :class:`~colearn_chain.errors.ColearnError`) and bad usage end with a
one-line message on stderr and a non-zero exit, never a traceback; an unexpected exception still
shows one line, plus the traceback only when ``COLEARN_CHAIN_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
import traceback

from colearn_chain.cli import (  # noqa: F401  (importing a command module registers it)
    account_cmd,
    audit_cmd,
    check_cmd,
    compile_cmd,
    deploy_cmd,
    learner_cmd,
    node_cmd,
    run_cmd,
    selector_cmd,
)
from colearn_chain.cli.app import app
from colearn_chain.errors import ColearnError


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (also used by the tests, in-process).

    Typer itself reports bad usage (exit 2) and Ctrl-C; everything the commands raise on
    purpose is a ColearnError, reported here in one line.
    """
    try:
        app(args=argv, prog_name="colearn-chain")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ColearnError as exc:
        print(f"colearn-chain: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if os.environ.get("COLEARN_CHAIN_DEBUG") == "1":
            traceback.print_exc()
        print(f"colearn-chain: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


def run() -> None:
    """The console script: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
