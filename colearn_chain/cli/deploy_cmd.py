"""``colearn-chain deploy``: put the initial model in the store, deploy, write the deployment file."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from eth_utils.address import is_address, to_checksum_address

from colearn_chain.cli.app import app
from colearn_chain.cli.options import (
    STORE_FORMS,
    AccountOption,
    RpcCaOption,
    RpcHeaderOption,
    RpcOption,
    StoreEndpointOption,
    open_store_option,
    rpc_endpoint,
    unlock,
)
from colearn_chain.errors import ColearnValueError


def parse_addresses(text: str) -> list[str]:
    """``ADDR,ADDR,...`` as checksum addresses; a malformed one is named in the error."""
    addresses = [part.strip() for part in text.split(",") if part.strip()]
    if not addresses:
        raise ColearnValueError("--learners needs at least one address")
    for address in addresses:
        if not is_address(address):
            raise ColearnValueError(f"--learners: {address!r} is not an Ethereum address")
    return [to_checksum_address(a) for a in addresses]


def parse_ether(text: str) -> int:
    """An amount of ether (``0.5``) in wei."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ColearnValueError(f"--fund takes an amount of ether such as 0.5, got {text!r}") from None
    if not amount.is_finite():
        raise ColearnValueError(f"--fund takes a finite amount of ether, got {text!r}")
    if amount <= 0:
        raise ColearnValueError(f"--fund must be positive, got {text}")
    return int(amount * 10**18)


@app.command("deploy")
def deploy_command(
    rpc: RpcOption,
    account: AccountOption,
    learners: Annotated[str, typer.Option(help="Learner addresses, comma-separated, in order.")],
    store: Annotated[str, typer.Option(help=f"The shared content store: {STORE_FORMS}.")],
    out: Annotated[Path, typer.Option(help="Where to write the deployment file.")] = Path("deployment.json"),
    threshold: Annotated[float, typer.Option(help="Share of the n - 1 voters that must approve, in (0, 1].")] = 0.5,
    rounds: Annotated[int, typer.Option(help="Rounds the experiment lasts (0: unlimited).")] = 10,
    proposal_window: Annotated[int, typer.Option(help="Blocks a round waits for its proposal (0: forever).")] = 20,
    voting_window: Annotated[int, typer.Option(help="Blocks a proposal waits for its votes (0: forever).")] = 20,
    selector: Annotated[str | None, typer.Option(help="Address allowed to nominate proposers.")] = None,
    learner: Annotated[str | None, typer.Option(help="Learner factory, package.module:factory.")] = None,
    task: Annotated[str, typer.Option(help="Built-in task, when no --learner is given.")] = "digits-mlp",
    seed: Annotated[int, typer.Option(help="The experiment's seed (initial weights, data shards).")] = 0,
    strategy: Annotated[str, typer.Option(help="Proposal strategy the participants use.")] = "round-robin",
    strategy_param: Annotated[
        list[str] | None, typer.Option("--strategy-param", help="KEY=VALUE setting of the strategy (repeatable).")
    ] = None,
    fund: Annotated[str | None, typer.Option(help="Send each learner this much ether from the deployer.")] = None,
    dp: Annotated[
        list[str] | None,
        typer.Option("--dp", help="Differential privacy of the task's learners, KEY=VALUE (repeatable)."),
    ] = None,
    store_endpoint: StoreEndpointOption = None,
    start_in: Annotated[
        str | None,
        typer.Option(
            help="Delay round 0's proposal window by BLOCKS (120) or a duration (90s, 2m), so that "
            "every learner has started [default: none].",
        ),
    ] = None,
    rpc_header: RpcHeaderOption = None,
    rpc_ca: RpcCaOption = None,
) -> None:
    """Deploy one experiment; twice on one chain gives two independent experiments.

    Prints the block round 0's proposal window closes after, and about when: every learner must
    have started by then, or round 0 is skipped.
    """
    from colearn_chain.chain import CollectiveLearningClient, connect
    from colearn_chain.deployment import deploy_experiment
    from colearn_chain.learner_spec import LearnerSpec
    from colearn_chain.ledger import threshold_to_bps
    from colearn_chain.privacy import dp_config_from_params, parse_dp_options
    from colearn_chain.schedule import estimate_block_seconds, parse_start_in, round_zero_schedule
    from colearn_chain.strategies import make_strategy
    from colearn_chain.strategies.settings import parse_params

    if out.exists():
        raise ColearnValueError(f"{out} already exists: choose another --out")
    endpoint = rpc_endpoint(rpc, rpc_header, rpc_ca)
    delay = parse_start_in(start_in) if start_in is not None else None
    addresses = parse_addresses(learners)
    threshold_to_bps(threshold)  # a bad threshold fails before anything is deployed
    params = parse_params(strategy_param)
    make_strategy(strategy, params).check_distributed()  # fails before anything is deployed
    amount = parse_ether(fund) if fund is not None else None
    selector_address = None
    if selector is not None:
        if not is_address(selector):
            raise ColearnValueError(f"--selector: {selector!r} is not an Ethereum address")
        selector_address = to_checksum_address(selector)
    dp_params = parse_dp_options(dp)
    spec = LearnerSpec(
        task=None if learner else task, factory=learner, seed=seed, count=len(addresses),
        dp=dp_config_from_params(dp_params).model_dump() if dp_params is not None else None,
    )  # fmt: skip
    if spec.dp is not None and proposal_window == 0:
        raise ColearnValueError(
            "--dp needs a --proposal-window: a learner whose privacy budget is spent does not propose, "
            "and its round is skipped once the window has passed"
        )
    blob_store = open_store_option(store, store_endpoint)
    chain = connect(endpoint)
    block_seconds = estimate_block_seconds(chain)
    start_in_blocks = delay.in_blocks(block_seconds) if delay is not None else 0

    deployment = deploy_experiment(
        chain, unlock(account), addresses, blob_store, spec,
        threshold=threshold, max_rounds=rounds, proposal_window=proposal_window, voting_window=voting_window,
        selector=selector_address, strategy=strategy, strategy_params=params, fund_wei=amount,
        start_in_blocks=start_in_blocks,
    )  # fmt: skip
    deployment.save(out)
    typer.echo(f"deployed {deployment.contract} on chain {deployment.chain_id} at block {deployment.deployment_block}")
    typer.echo(f"initial model {deployment.initial_model} in {deployment.store}; deployment file {out}")
    client = CollectiveLearningClient(chain, deployment.contract, deployment.deployment_block)
    typer.echo(round_zero_schedule(client, block_seconds))
