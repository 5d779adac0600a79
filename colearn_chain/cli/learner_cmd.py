"""``colearn-chain learner``: run one participant of a deployed experiment until it finishes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from colearn_chain.cli.app import app
from colearn_chain.cli.options import (
    STORE_FORMS,
    AccountOption,
    DeploymentOption,
    OptionalRpcOption,
    RpcCaOption,
    RpcHeaderOption,
    StoreEndpointOption,
    open_store_option,
    rpc_endpoint,
    unlock,
)

log = logging.getLogger("colearn_chain.participant")


@app.command("learner")
def learner_command(
    deployment: DeploymentOption,
    account: AccountOption,
    data: Annotated[Path | None, typer.Option(help="Your private .npz/.csv data for the deployment's task.")] = None,
    partition: Annotated[str, typer.Option(help="Simulated data: iid | dirichlet:ALPHA | dominant.")] = "iid",
    index: Annotated[
        int | None, typer.Option(help="Simulated data: which shard (default: your position among the learners).")
    ] = None,
    rpc: OptionalRpcOption = None,
    store: Annotated[
        str | None, typer.Option(help=f"The content store, {STORE_FORMS} (default: the deployment's).")
    ] = None,
    store_endpoint: StoreEndpointOption = None,
    poll: Annotated[float, typer.Option(help="Seconds between looks at the chain.")] = 0.2,
    max_outage: Annotated[float, typer.Option(help="Seconds to keep retrying an unreachable node.")] = 60.0,
    rpc_header: RpcHeaderOption = None,
    rpc_ca: RpcCaOption = None,
) -> None:
    """Propose on your turn, vote on the others' proposals, finalize or skip after deadlines.

    One log line per action; exit 0 once the experiment is finished. Safe to stop and start
    again at any point: the state is rebuilt from the chain and the store. Warns when it starts
    after the current round's window has closed (that round goes on without it).
    """
    from colearn_chain.cli.checks import data_file, non_negative_seconds, positive_seconds
    from colearn_chain.deployment import Deployment

    positive_seconds("--poll", poll)
    non_negative_seconds("--max-outage", max_outage)
    data_file("--data", data)
    from colearn_chain.participant import ParticipantSettings, join_experiment
    from colearn_chain.schedule import late_start_warning

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)  # not "Found credentials..." on every start
    info = Deployment.load(deployment)
    endpoint = rpc_endpoint(rpc or info.rpc_url, rpc_header, rpc_ca)
    blob_store = open_store_option(store or info.store, store_endpoint)
    participant = join_experiment(
        info, unlock(account), blob_store, rpc=endpoint, data=data, partition=partition, index=index,
        settings=ParticipantSettings(poll_interval=poll, max_outage=max_outage),
    )  # fmt: skip
    late = late_start_warning(participant.client)
    if late is not None:
        log.warning("%s", late)
    participant.run()
