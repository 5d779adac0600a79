"""Strategy settings: parameters from the command line or TOML, checked against a dataclass."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from colearn_chain.errors import ColearnValueError
from colearn_chain.strategies import STRATEGIES, make_strategy
from colearn_chain.strategies.settings import parse_params, settings_from_params


@dataclass(frozen=True)
class _Example:
    trim: float = 0.1
    count: int = 1
    enabled: bool = False
    limit: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.trim < 0.5:
            raise ColearnValueError(f"trim must be in [0, 0.5), got {self.trim}")


def test_strings_from_the_command_line_are_coerced() -> None:
    built = settings_from_params(_Example, {"trim": "0.2", "count": "3", "enabled": "yes", "limit": "4"}, "ex")
    assert built == _Example(trim=0.2, count=3, enabled=True, limit=4)


def test_typed_values_from_toml_pass_through() -> None:
    assert settings_from_params(_Example, {"trim": 0.25, "count": 2, "enabled": True}, "ex") == _Example(0.25, 2, True)
    assert settings_from_params(_Example, None, "ex") == _Example()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"colour": "red"}, "has no parameter 'colour' (its parameters: count, enabled, limit, trim)"),
        ({"count": "many"}, "parameter 'count' must be int"),
        ({"count": 2.5}, "parameter 'count' must be int"),
        ({"enabled": "perhaps"}, "parameter 'enabled' must be bool"),
        ({"trim": "0.7"}, "trim must be in [0, 0.5)"),
    ],
)
def test_bad_parameters_name_the_strategy_and_key(params: dict[str, object], message: str) -> None:
    with pytest.raises(ColearnValueError, match="ex") as error:
        settings_from_params(_Example, params, "ex")
    assert message in str(error.value)


def test_parse_params() -> None:
    assert parse_params(["a=1", " b = two "]) == {"a": "1", "b": "two"}
    assert parse_params(None) == {}
    with pytest.raises(ColearnValueError, match="KEY=VALUE"):
        parse_params(["novalue"])


#: Strategies with a required parameter, and the one-line error that says what to pass.
REQUIRED = {"rl": "needs a trained policy: pass --selector-policy FILE"}


def test_every_registered_strategy_builds_with_defaults_or_says_what_it_needs() -> None:
    assert "round-robin" in STRATEGIES
    for name in STRATEGIES:
        if name in REQUIRED:
            with pytest.raises(ColearnValueError, match=REQUIRED[name]):
                make_strategy(name)
        else:
            assert make_strategy(name).name == name


def test_round_robin_takes_no_parameters() -> None:
    with pytest.raises(ColearnValueError, match="its parameters: none"):
        make_strategy("round-robin", {"x": "1"})
