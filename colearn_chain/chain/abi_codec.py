"""Selectors, topics and argument coding derived from the artifact's ABI (no web3 contract objects).

The client encodes calls and decodes results, logs and revert data itself: it is a few lines
with eth-abi, it behaves the same on every backend, and it avoids web3's per-call formatting
overhead, which dominates on the embedded chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak


def _canonical_type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


def signature(entry: dict[str, Any]) -> str:
    """``name(type,type,...)`` of an ABI function, event or error."""
    return f"{entry['name']}({','.join(_canonical_type(p) for p in entry['inputs'])})"


def _snake(name: str) -> str:
    out = []
    for i, char in enumerate(name.rstrip("_")):
        if char.isupper() and i > 0 and not name[i - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def _normalize(kind: str, value: Any) -> Any:
    if kind == "address":
        return to_checksum_address(value)
    if kind == "address[]":
        return [to_checksum_address(v) for v in value]
    return value


@dataclass(frozen=True)
class Function:
    """One ABI function: its selector and how to encode arguments and decode results."""

    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]

    def encode_call(self, args: Sequence[Any]) -> bytes:
        return self.selector + encode(list(self.input_types), list(args))

    def decode_result(self, data: bytes) -> tuple[Any, ...]:
        values = decode(list(self.output_types), data)
        return tuple(_normalize(k, v) for k, v in zip(self.output_types, values, strict=True))


@dataclass(frozen=True)
class EventSpec:
    """One ABI event: its topic and how to decode a log of it into snake_case fields."""

    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]  # (field, type) in topic order
    unindexed: tuple[tuple[str, str], ...]

    def decode_log(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for (name, kind), topic in zip(self.indexed, topics[1:], strict=True):
            fields[name] = _normalize(kind, decode([kind], topic)[0])
        values = decode([k for _, k in self.unindexed], data)
        for (name, kind), value in zip(self.unindexed, values, strict=True):
            fields[name] = _normalize(kind, value)
        return fields


@dataclass(frozen=True)
class ErrorSpec:
    """One ABI custom error: its selector and how to decode its snake_case fields."""

    name: str
    selector: bytes
    fields: tuple[tuple[str, str], ...]

    def decode_data(self, data: bytes) -> dict[str, Any]:
        values = decode([k for _, k in self.fields], data[4:])
        return {n: _normalize(k, v) for (n, k), v in zip(self.fields, values, strict=True)}


class AbiCodec:
    """Every function, event and error of one contract ABI, looked up by name, topic or selector."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self.functions: dict[str, Function] = {}
        self.events_by_topic: dict[bytes, EventSpec] = {}
        self.errors_by_selector: dict[bytes, ErrorSpec] = {}
        self.constructor_types: tuple[str, ...] = ()
        for entry in abi:
            kind = entry["type"]
            if kind == "constructor":
                self.constructor_types = tuple(_canonical_type(p) for p in entry["inputs"])
            elif kind == "function":
                self.functions[entry["name"]] = Function(
                    name=entry["name"],
                    selector=keccak(text=signature(entry))[:4],
                    input_types=tuple(_canonical_type(p) for p in entry["inputs"]),
                    output_types=tuple(_canonical_type(p) for p in entry["outputs"]),
                )
            elif kind == "event":
                self.events_by_topic[keccak(text=signature(entry))] = EventSpec(
                    name=entry["name"],
                    topic=keccak(text=signature(entry)),
                    indexed=tuple((_snake(p["name"]), p["type"]) for p in entry["inputs"] if p["indexed"]),
                    unindexed=tuple((_snake(p["name"]), p["type"]) for p in entry["inputs"] if not p["indexed"]),
                )
            elif kind == "error":
                self.errors_by_selector[keccak(text=signature(entry))[:4]] = ErrorSpec(
                    name=entry["name"],
                    selector=keccak(text=signature(entry))[:4],
                    fields=tuple((_snake(p["name"]), p["type"]) for p in entry["inputs"]),
                )

    def encode_constructor(self, args: Sequence[Any]) -> bytes:
        return encode(list(self.constructor_types), list(args))

    def event_topic(self, name: str) -> bytes:
        for topic, spec in self.events_by_topic.items():
            if spec.name == name:
                return topic
        raise KeyError(name)
