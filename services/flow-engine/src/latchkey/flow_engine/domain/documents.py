"""Reading Access Flow YAML so that every error names its file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from .flow import AccessFlow


@dataclass(frozen=True)
class FlowError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class LoadedFlow:
    file: str
    line: int
    flow: AccessFlow


def _node_at(node: yaml.Node, path: tuple[Any, ...]) -> yaml.Node:
    """The deepest node along `path` (pydantic's error location) that exists in the YAML tree."""
    for part in path:
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if child is None:
                return node
            node = child
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def parse_flows(text: str, file: str = "<string>") -> tuple[list[LoadedFlow], list[FlowError]]:
    """Every AccessFlow in `text` (documents separated by ---) and every error found, with lines."""
    flows: list[LoadedFlow] = []
    errors: list[FlowError] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        datas = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return [], [FlowError(file, line, "", f"not valid YAML: {problem}")]
    for node, data in zip(nodes, datas, strict=True):
        if node is None or data is None:
            continue
        line = node.start_mark.line + 1
        if not isinstance(data, dict):
            errors.append(FlowError(file, line, "", "an AccessFlow document must be a mapping"))
            continue
        try:
            flows.append(LoadedFlow(file, line, AccessFlow.model_validate(data)))
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
                at = _node_at(node, loc)
                field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "extra_forbidden":
                    message = "unknown field (check spelling; fields are camelCase)"
                errors.append(FlowError(file, at.start_mark.line + 1, field, message))
    names: dict[str, LoadedFlow] = {}
    for loaded in flows:
        if loaded.flow.name in names:
            first = names[loaded.flow.name]
            errors.append(
                FlowError(
                    loaded.file,
                    loaded.line,
                    "metadata.name",
                    f"flow {loaded.flow.name!r} is also defined at {first.file}:{first.line}",
                )
            )
        names[loaded.flow.name] = loaded
    return flows, errors
