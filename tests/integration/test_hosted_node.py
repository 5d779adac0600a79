"""Hosted nodes: HTTPS with a verified certificate, a bearer header or basic auth in the URL.

The node is the session's Anvil behind :mod:`.https_node`'s proxy, which refuses a request
without the right ``Authorization``; its certificate is signed by a private CA the test makes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from colearn_chain.chain import RpcEndpoint, connect
from colearn_chain.chain.accounts import anvil_dev_accounts, generated_accounts, save_keystore
from colearn_chain.chain.anvil import AnvilNode
from colearn_chain.chain.endpoint import NodeAccessDenied, NodeCertificateRejected, parse_header
from colearn_chain.cli.main import main
from colearn_chain.deployment import Deployment
from colearn_chain.errors import ColearnValueError

from .https_node import Certificates, HostedNode, basic_credentials, hosted_node, make_private_ca

pytestmark = pytest.mark.anvil

TOKEN = "s3cr3t-t0ken"
USER, SECRET = "alice", "pa55-w0rd"
PASSWORD = "hosted-test"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_private_ca(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def node(anvil_node: AnvilNode, certificates: Certificates) -> Iterator[HostedNode]:
    accepted = {f"Bearer {TOKEN}", basic_credentials(USER, SECRET)}
    with hosted_node(anvil_node.url, certificates, accepted) as running:
        yield running


def _with_basic_auth(url: str, user: str, password: str) -> str:
    return url.replace("https://", f"https://{user}:{password}@")


def test_a_bearer_header_and_the_private_ca_reach_the_node(node: HostedNode, certificates: Certificates) -> None:
    chain = connect(RpcEndpoint.of(node.url, [f"Authorization: Bearer {TOKEN}"], certificates.ca))
    assert chain.chain_id == 31337 and chain.block_number() >= 0
    assert chain.rpc_url == node.url


def test_basic_auth_in_the_url_reaches_the_node_and_is_never_shown(
    node: HostedNode, certificates: Certificates
) -> None:
    chain = connect(RpcEndpoint(_with_basic_auth(node.url, USER, SECRET), ca_file=certificates.ca))
    assert chain.chain_id == 31337
    assert chain.rpc_url == node.url  # what messages and deployment files carry


@pytest.mark.parametrize(
    "endpoint",
    [
        lambda url, ca: RpcEndpoint.of(url, ["Authorization: Bearer wrong-token"], ca),
        lambda url, ca: RpcEndpoint(_with_basic_auth(url, USER, "wrong-pa55"), ca_file=ca),
        lambda url, ca: RpcEndpoint(url, ca_file=ca),
    ],
    ids=["wrong-token", "wrong-password", "none"],
)
def test_wrong_credentials_fail_at_once_with_one_line_and_no_secret(
    node: HostedNode, certificates: Certificates, endpoint: object
) -> None:
    started = time.monotonic()
    with pytest.raises(NodeAccessDenied) as refused:
        connect(endpoint(node.url, certificates.ca))  # type: ignore[operator]
    message = str(refused.value)
    assert "refused the credentials (HTTP 401" in message and node.url in message
    assert "\n" not in message
    assert "wrong" not in message and USER not in message  # neither the secret nor the user is repeated
    assert time.monotonic() - started < 10  # not an outage to wait out


def test_an_untrusted_certificate_is_refused_and_points_at_rpc_ca(node: HostedNode) -> None:
    with pytest.raises(NodeCertificateRejected, match=r"not trusted \(.*\): pass --rpc-ca FILE") as refused:
        connect(RpcEndpoint.of(node.url, [f"Authorization: Bearer {TOKEN}"]))
    assert TOKEN not in str(refused.value)


def test_endpoint_options_are_checked_before_connecting(certificates: Certificates, tmp_path: Path) -> None:
    with pytest.raises(ColearnValueError, match="https:// node only"):
        RpcEndpoint("http://127.0.0.1:1", ca_file=certificates.ca)
    with pytest.raises(ColearnValueError, match="is not a file"):
        RpcEndpoint("https://127.0.0.1:1", ca_file=tmp_path / "missing.pem")
    with pytest.raises(ColearnValueError, match="http\\(s\\) URL, got 'ftp://host'"):
        RpcEndpoint("ftp://user:pw@host")  # the credentials are not echoed either
    assert parse_header("X-Api-Key:  abc def ") == ("X-Api-Key", "abc def")
    for bad in ("Authorization Bearer x", ": x", "Bad Name: x", "Empty:"):
        with pytest.raises(ColearnValueError, match="--rpc-header") as refused:
            parse_header(bad)
        assert " x" not in str(refused.value).removeprefix("--rpc-header")  # values are not echoed


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    output = captured.err + captured.out
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("colearn-chain: error:")]
    assert len(errors) == 1, output
    return errors[0]


def test_deploy_and_audit_through_the_hosted_node(
    node: HostedNode,
    certificates: Certificates,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLEARN_CHAIN_PASSWORD", PASSWORD)
    deployer = save_keystore(anvil_dev_accounts(1)[0], tmp_path / "deployer.json", PASSWORD, light=True)
    learners = ",".join(a.address for a in generated_accounts(2, seed=4))
    secret_url = _with_basic_auth(node.url, USER, SECRET)
    assert main(["deploy", "--rpc", secret_url, "--rpc-ca", str(certificates.ca), "--account", str(deployer),
                 "--learners", learners, "--store", str(tmp_path / "store"), "--rounds", "1",
                 "--out", str(tmp_path / "d.json")]) == 0  # fmt: skip
    saved = (tmp_path / "d.json").read_text()
    assert SECRET not in saved and USER not in saved  # the deployment file is shared: no credentials
    assert Deployment.load(tmp_path / "d.json").rpc_url == node.url
    capsys.readouterr()

    audit = ["audit", "--deployment", str(tmp_path / "d.json"), "--format", "json", "--rpc-ca", str(certificates.ca)]
    assert main([*audit, "--rpc-header", f"Authorization: Bearer {TOKEN}"]) == 0  # the deployment's URL, a header
    assert json.loads(capsys.readouterr().out)["rounds"] == []
    assert main([*audit, "--rpc-header", "Authorization: Bearer nope-nope"]) == 1
    error = _one_line_error(capsys)
    assert "refused the credentials" in error and "nope-nope" not in error
    assert main(["audit", "--deployment", str(tmp_path / "d.json"), "--rpc", secret_url]) == 1
    error = _one_line_error(capsys)
    assert "--rpc-ca" in error and SECRET not in error


def test_run_settings_never_write_rpc_credentials() -> None:
    from colearn_chain.simulation import make_settings

    settings = make_settings(rpc=f"https://{USER}:{SECRET}@node.example:8545/v1")
    assert settings.rpc is not None and SECRET in settings.rpc  # used as given to connect...
    assert settings.model_dump(mode="json")["rpc"] == "https://node.example:8545/v1"  # ...never written


def test_run_plays_on_the_hosted_node_and_keeps_its_credentials_out_of_results(
    node: HostedNode, certificates: Certificates, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_url = _with_basic_auth(node.url, USER, SECRET)
    out = tmp_path / "run"
    assert main(["run", "--rpc", secret_url, "--rpc-ca", str(certificates.ca), "--learners", "2", "--rounds", "1",
                 "--out", str(out)]) == 0  # fmt: skip
    results = (out / "results.json").read_text()
    assert SECRET not in results and json.loads(results)["settings"]["rpc"] == node.url
    capsys.readouterr()
    assert main(["run", "--rpc-header", f"Authorization: Bearer {TOKEN}", "--out", str(tmp_path / "none")]) == 1
    assert "need --rpc" in _one_line_error(capsys)
    assert not (tmp_path / "none").exists()
