"""Parsing of the Dockerfiles for the static checks (no Docker engine here)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache

from tests.deploy.manifests import ROOT


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [arg for o, arg in self.instructions if o == op]


@cache
def parse(dockerfile: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with line continuations joined."""
    text = (ROOT / dockerfile).read_text()
    lines: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        lines.append(buf + line)
        buf = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages and op == "ARG":
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip()
        else:
            stages[-1].instructions.append((op, rest.strip()))
    return args, stages


def final(dockerfile: str) -> Stage:
    return parse(dockerfile)[1][-1]


def exec_form(arg: str) -> list[str]:
    value = json.loads(arg)
    assert isinstance(value, list), f"exec form expected, got {arg!r}"
    return [str(v) for v in value]


def dockerfile_cmd(dockerfile: str) -> list[str]:
    [cmd] = final(dockerfile).all("CMD")
    return exec_form(cmd)


def dockerfile_expose(dockerfile: str) -> int:
    [port] = final(dockerfile).all("EXPOSE")
    return int(port.split("/")[0])
