"""Every command, every option, a table of bad values and files: never a traceback, never "unexpected".

The commands are listed from the Typer app itself, so a new command or option is fuzzed without
editing this file. Where a command would start real work once its options pass (train, start a
node, deploy), that step is replaced by a sentinel error: what is fuzzed is everything before it.
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer.main

from colearn_chain.chain.accounts import generated_accounts, save_keystore
from colearn_chain.cli.app import app
from colearn_chain.cli.main import main
from colearn_chain.errors import ColearnError

PASSWORD = "fuzz"


class ReachedTheWork(ColearnError):
    """Raised where a command's real work would start: its options all passed."""


#: Bad values for any option or argument; ``{name}`` is a file prepared in the fixture.
BAD_VALUES = [
    "nan", "inf", "-inf", "-1", "0", "1e400", "99999999999999999999999", "", " ", "x", "-",
    "0x", "0xdead", "a=b=c", "../../../etc/passwd", "http://127.0.0.1:1", "s3://", "file://",
    "{missing}", "{missing_folder}/x.json", "{dir}", "{empty}", "{garbage}", "{json_list}", "{json_null}",
    "{bad_npz}", "{text}.png",
]  # fmt: skip


def _leaf_commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
        children = getattr(command, "commands", None)
        if children is None:
            yield path, command
            return
        for name, child in children.items():
            yield from walk(child, (*path, name))

    yield from walk(typer.main.get_command(app), ())


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLEARN_CHAIN_PASSWORD", PASSWORD)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setattr("sys.stdin", io.StringIO("not a key\n"))
    (tmp_path / "dir").mkdir()
    (tmp_path / "store").mkdir()
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "garbage").write_bytes(os.urandom(256))
    (tmp_path / "json_list").write_text("[1, 2]")
    (tmp_path / "json_null").write_text("null")
    (tmp_path / "text").write_text("hello")
    np.savez(tmp_path / "bad.npz", x=np.full((4, 2), 1e39), y=np.zeros(4))
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "something").write_text("x")
    accounts = generated_accounts(2, seed=3)
    save_keystore(accounts[0], tmp_path / "key.json", PASSWORD, light=True)
    deployment = {
        "chain_id": 31337, "rpc_url": "http://127.0.0.1:1", "contract": "0x" + "11" * 20, "deployment_block": 0,
        "artifact_sha256": "00" * 32, "store": str(tmp_path / "store"),
        "learner": {"task": "digits-mlp", "factory": None, "seed": 0, "count": 2},
        "learners": [a.address for a in accounts], "threshold": 0.5, "threshold_bps": 5000, "proposal_window": 0,
        "voting_window": 0, "max_rounds": 1, "selector": "0x" + "00" * 20, "initial_model": "00" * 32, "version": 1,
    }  # fmt: skip
    (tmp_path / "deployment.json").write_text(json.dumps(deployment))
    (tmp_path / "existing-policy.onnx").write_bytes(b"")

    def sentinel(*_: Any, **__: Any) -> Any:
        raise ReachedTheWork("reached the work")

    for target in (
        "colearn_chain.cli.node_cmd.start_anvil",
        "colearn_chain.simulation.prepare_simulation",
        "colearn_chain.deployment.deploy_experiment",
        "colearn_chain.participant.join_experiment",
        "colearn_chain.check.check_learner",
        "colearn_chain.chain.compiler.compile_artifact",
        "colearn_chain.chain.compiler.resolve_solc",
        "colearn_chain.selector_training.train.train_selector",
        "colearn_chain.selector_service.serve_selector",
    ):
        monkeypatch.setattr(target, sentinel)
    light = save_keystore  # scrypt's second per keystore is not what is tested here

    def quick_save(account: Any, path: Path, password: str, **_: Any) -> Path:
        return light(account, path, password, light=True)

    monkeypatch.setattr("colearn_chain.cli.account_cmd.save_keystore", quick_save)
    return {
        "missing": str(tmp_path / "missing.json"), "missing_folder": str(tmp_path / "no-folder"),
        "dir": str(tmp_path / "dir"), "empty": str(tmp_path / "empty"), "garbage": str(tmp_path / "garbage"),
        "json_list": str(tmp_path / "json_list"), "json_null": str(tmp_path / "json_null"),
        "bad_npz": str(tmp_path / "bad.npz"), "text": str(tmp_path / "text"),
        "key": str(tmp_path / "key.json"), "deployment": str(tmp_path / "deployment.json"),
        "occupied": str(tmp_path / "occupied"), "learners": ",".join(a.address for a in accounts),
        "policy": str(tmp_path / "existing-policy.onnx"),
    }  # fmt: skip


#: What each command's required options and arguments get when another one is being fuzzed.
BASES: dict[str, list[str]] = {
    "audit": ["--deployment", "{deployment}"],
    "check": ["--learner", "learners.tasks:no_such_factory"],
    "deploy": ["--rpc", "http://127.0.0.1:1", "--account", "{key}", "--learners", "{learners}", "--store", "store"],
    "learner": ["--deployment", "{deployment}", "--account", "{key}"],
    "run": ["--out", "{occupied}", "--in-memory"],
    "account new": ["{dir}"],
    "account import": ["{missing}"],
    "account address": ["{garbage}"],
    "account list": [],
    "selector train": ["--out", "{dir}/policy.onnx"],
    "selector serve": ["--deployment", "{deployment}", "--account", "{key}", "--policy", "{garbage}"],
    "node": [],
    "compile": ["--source", "{missing}"],
}


def _cases() -> list[tuple[tuple[str, ...], str | None]]:
    cases: list[tuple[tuple[str, ...], str | None]] = []
    for path, command in _leaf_commands():
        for param in command.params:
            if param.name == "help" or getattr(param, "is_flag", False):
                continue
            cases.append((path, None if param.param_type_name == "argument" else param.opts[0]))
    return cases


def _fill(text: str, files: dict[str, str]) -> str:
    for name, value in files.items():
        text = text.replace("{" + name + "}", value)
    return text


def _argv(path: tuple[str, ...], option: str | None, value: str, files: dict[str, str]) -> list[str]:
    base = list(BASES[" ".join(path)])
    if option is None:  # the command's argument
        base = [value]
    elif option in base:
        at = base.index(option)
        base[at + 1] = value
    else:
        base += [option, value]
    return [*path, *(_fill(arg, files) for arg in base)]


#: Values tried per option: a fixed sample (seeded by the option's name) keeps the run short,
#: while every value is still tried on many options.
VALUES_PER_OPTION = 7


def _values_for(path: tuple[str, ...], option: str | None) -> list[str]:
    return random.Random(f"{path}{option}").sample(BAD_VALUES, VALUES_PER_OPTION)


def test_every_command_is_fuzzed() -> None:
    assert {" ".join(path) for path, _ in _leaf_commands()} == set(BASES)
    assert len(_cases()) > 80
    tried = {value for path, option in _cases() for value in _values_for(path, option)}
    assert tried == set(BAD_VALUES)


@pytest.mark.parametrize(("path", "option"), _cases(), ids=[f"{' '.join(p)} {o or 'ARG'}" for p, o in _cases()])
def test_bad_values_never_give_a_traceback_or_unexpected(
    path: tuple[str, ...], option: str | None, files: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    for value in _values_for(path, option):
        argv = _argv(path, option, _fill(value, files), files)
        code = main(argv)
        captured = capsys.readouterr()
        for line in (captured.out + captured.err).splitlines():
            assert not line.lstrip().startswith(("unexpected", "colearn-chain: unexpected")), (argv, line)
            assert "Traceback" not in line, (argv, captured.err)
        assert isinstance(code, int), argv


@pytest.mark.parametrize("name", ["empty", "garbage", "json_list", "json_null", "dir", "missing"])
def test_bad_files_in_every_file_option(name: str, files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    bad = files[name]
    for argv in (
        ["audit", "--deployment", bad], ["learner", "--deployment", bad, "--account", files["key"]],
        ["learner", "--deployment", files["deployment"], "--account", bad],
        ["deploy", "--rpc", "http://127.0.0.1:1", "--account", bad, "--learners", files["learners"], "--store", "s"],
        ["run", "--config", bad], ["run", "--data", bad, "--in-memory"], ["run", "--cost", bad, "--in-memory"],
        ["run", "--selector-policy", bad, "--strategy", "rl", "--in-memory"], ["account", "address", bad],
        ["selector", "serve", "--deployment", files["deployment"], "--account", files["key"], "--policy", bad],
        ["audit", "--deployment", files["deployment"], "--cost", bad], ["node", "--state", bad],
    ):  # fmt: skip
        code = main(argv)
        captured = capsys.readouterr()
        output = captured.out + captured.err
        assert code != 0 or name == "missing", (argv, output)
        assert "unexpected" not in output and "Traceback" not in output, (argv, output)
