"""``colearn-chain check``: run check_learner on a user's learner factory from the command line."""

from __future__ import annotations

import warnings
from typing import Annotated

import typer

from colearn_chain.cli.app import app


@app.command("check")
def check_command(
    learner: Annotated[str, typer.Option(help="Your learner factory, package.module:factory.")],
    index: Annotated[int, typer.Option(help="The index passed to the factory.")] = 0,
    count: Annotated[int, typer.Option(help="The number of learners passed to the factory.")] = 2,
    seed: Annotated[int, typer.Option(help="The seed passed to the factory.")] = 0,
    fast: Annotated[bool, typer.Option("--fast", help="Only the checks that need no training.")] = False,
) -> None:
    """Check that FACTORY(index, count, seed) returns a learner that keeps the interface's contract.

    Each broken rule is one line naming the rule and what to fix; warnings (e.g. shared vote
    and test sets) are printed and do not fail the check.
    """
    from colearn_chain.check import LearnerCheckWarning, check_learner
    from learners.plugin import make_user_learner

    built = make_user_learner(learner, index, count, seed, guarded=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LearnerCheckWarning)
        check_learner(built, fast=fast)
    for warning in caught:
        if issubclass(warning.category, LearnerCheckWarning):
            typer.echo(f"warning: {warning.message}", err=True)
    typer.echo(f"{learner}: {type(built).__name__} passes check_learner{' (fast checks)' if fast else ''}")
