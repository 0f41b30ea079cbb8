"""The AsyncAPI document's NATS channels as concrete subjects, to hold them to the code.

A channel address such as ``es.{stream}.chk`` is expanded to one subject per value of each
parameter that has an ``enum`` (a sample token for the others), and subjects are compared with
NATS's own wildcard rules.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import yaml

SAMPLE_TOKEN = "x1"
_PARAMETER = re.compile(r"\{([A-Za-z0-9]+)\}")


@dataclass(frozen=True)
class Sample:
    channel: str
    subject: str
    stream: str  # the channel's x-stream with the same parameter values
    publishers: frozenset[str]


def load(document: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(document)
    return doc


def nats_channels(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: channel
        for name, channel in doc["channels"].items()
        if {"$ref": "#/servers/nats"} in channel.get("servers", [])
    }


def samples(doc: dict[str, Any]) -> list[Sample]:
    out: list[Sample] = []
    for name, channel in nats_channels(doc).items():
        address: str = channel["address"]
        params = _PARAMETER.findall(address)
        declared = channel.get("parameters", {})
        assert set(params) == set(declared), f"{name}: parameters {declared} for {address}"
        choices = [declared[p].get("enum", [SAMPLE_TOKEN]) for p in params]
        for values in itertools.product(*choices):
            bound = dict(zip(params, values, strict=True))
            out.append(
                Sample(
                    channel=name,
                    subject=_bind(address, bound),
                    stream=_bind(str(channel["x-stream"]), bound),
                    publishers=frozenset(channel["x-publishers"]),
                )
            )
    return out


def _bind(template: str, values: dict[str, str]) -> str:
    return _PARAMETER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def address_pattern(address: str) -> str:
    """A channel address as a NATS subject filter (each parameter one token)."""
    return _PARAMETER.sub("*", address)


def matches(subject: str, pattern: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    tokens, wanted = subject.split("."), pattern.split(".")
    for i, want in enumerate(wanted):
        if want == ">":
            return len(tokens) > i
        if i >= len(tokens) or (want != "*" and want != tokens[i]):
            return False
    return len(tokens) == len(wanted)


def channels_of(doc: dict[str, Any], subject: str) -> list[str]:
    """The NATS channels whose address matches ``subject``."""
    return [
        name
        for name, channel in nats_channels(doc).items()
        if matches(subject, address_pattern(channel["address"])) and _enum_allows(channel, subject)
    ]


def _enum_allows(channel: dict[str, Any], subject: str) -> bool:
    tokens = subject.split(".")
    for i, token in enumerate(channel["address"].split(".")):
        name = _PARAMETER.fullmatch(token)
        if name:
            enum = channel["parameters"][name.group(1)].get("enum")
            if enum is not None and tokens[i] not in enum:
                return False
    return True
