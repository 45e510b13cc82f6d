"""Templates: org-owned, human-readable definitions of the exact operations a permission means.

A template file lives at `templates/<integration-type>/<name>.yaml`:

    apiVersion: latchkey/v1
    kind: Template
    name: readonly
    integration: postgresql
    description: Read every table of one schema
    parameters:
      role: {type: identifier, required: false}
    grant:  [{sql: "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {grantee}"}]
    revoke: [{sql: "REVOKE SELECT ON ALL TABLES IN SCHEMA {schema} FROM {grantee}"}]

The shape of each operation belongs to the integration type, which validates it when the template
loads (`Integration.validate_operations`). Parameter values are validated here, before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ParameterType = Literal["identifier", "string", "integer", "boolean", "arn", "email", "enum"]

# Conservative on purpose: a value that needs quoting to be an identifier is not one a human meant.
_BUILTIN_PATTERNS: dict[str, str] = {
    "identifier": r"[A-Za-z_][A-Za-z0-9_$]{0,62}",
    "integer": r"-?[0-9]{1,18}",
    "boolean": r"true|false",
    "arn": r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:[A-Za-z0-9_+=,.@:/*-]{1,1024}",
    "email": r"[^@\s]{1,64}@[A-Za-z0-9.-]{1,255}",
}
_MAX_STRING = 1024
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


class TemplateError(ValueError):
    """A template file is malformed; the message names the file and the problem."""


class ParameterInvalid(ValueError):
    """A command's parameters do not satisfy the template; the message says which and why."""


class ParameterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ParameterType = "string"
    pattern: str | None = Field(default=None, description="Extra regex the whole value must match")
    required: bool = True
    default: str | None = None
    values: list[str] | None = Field(default=None, description="Allowed values (type enum)")
    description: str = ""

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            re.compile(pattern)
        return pattern

    def check(self, name: str, value: str) -> str:
        """The value if it is acceptable for this parameter, else ParameterInvalid (value not echoed)."""
        if len(value) > _MAX_STRING:
            raise ParameterInvalid(f"parameter {name!r} is longer than {_MAX_STRING} characters")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ParameterInvalid(f"parameter {name!r} contains control characters")
        if self.type == "enum":
            if value not in (self.values or []):
                raise ParameterInvalid(f"parameter {name!r} must be one of {self.values}")
        builtin = _BUILTIN_PATTERNS.get(self.type)
        if builtin is not None and not re.fullmatch(builtin, value):
            raise ParameterInvalid(f"parameter {name!r} is not a valid {self.type}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ParameterInvalid(
                f"parameter {name!r} does not match the template's pattern {self.pattern!r}"
            )
        return value


Operation = dict[str, Any]


class Template(BaseModel):
    """One permission an integration can grant, with its typed parameters and exact operations."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: Literal["latchkey/v1"] = Field(alias="apiVersion")
    kind: Literal["Template"]
    name: str
    integration: str = Field(description="Integration type, e.g. postgresql")
    description: str = ""
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    grant: list[Operation] = Field(min_length=1)
    revoke: list[Operation] = Field(min_length=1)
    rotate: list[Operation] = Field(default_factory=list)
    source: str = Field(default="", exclude=True, description="File it was loaded from")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError("a template name is lowercase letters, digits, '-' or '_' (max 64)")
        return name

    def bind(self, given: dict[str, str]) -> dict[str, str]:
        """Validated parameter values (defaults applied); unknown or missing ones are refused."""
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise ParameterInvalid(f"template {self.name!r} takes no parameter(s) {unknown}")
        bound: dict[str, str] = {}
        for name, spec in self.parameters.items():
            value = given.get(name, spec.default)
            if value is None:
                if spec.required:
                    raise ParameterInvalid(f"template {self.name!r} requires parameter {name!r}")
                continue
            bound[name] = spec.check(name, value)
        return bound


@dataclass
class TemplateSet:
    """Every template the connector loaded, by (integration type, name)."""

    templates: dict[tuple[str, str], Template] = field(default_factory=dict)

    def get(self, integration_type: str, name: str) -> Template | None:
        return self.templates.get((integration_type, name))

    def for_type(self, integration_type: str) -> list[Template]:
        return [t for (kind, _), t in sorted(self.templates.items()) if kind == integration_type]

    def __iter__(self) -> Iterator[Template]:
        return iter(self.templates.values())

    def __len__(self) -> int:
        return len(self.templates)

    def add(self, template: Template) -> None:
        key = (template.integration, template.name)
        if key in self.templates:
            raise TemplateError(
                f"{template.source}: template {template.name!r} for {template.integration} is defined twice "
                f"(also in {self.templates[key].source})"
            )
        self.templates[key] = template


def parse_template(text: str, source: str) -> Template:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise TemplateError(f"{source}: a template is a YAML mapping (apiVersion, kind, name, ...)")
    try:
        return Template.model_validate({**document, "source": source})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:8]
        )
        raise TemplateError(f"{source}: {problems}") from None


def load_templates(folders: Iterable[Path]) -> TemplateSet:
    """Load `<folder>/<type>/<name>.yaml` from each folder; a later folder may not redefine a template.

    The file's folder must match its `integration` and its file name its `name`, so what a reviewer
    sees in the tree is what runs.
    """
    found = TemplateSet()
    for folder in folders:
        if not folder.is_dir():
            raise TemplateError(f"templates folder {folder} does not exist")
        for path in sorted(folder.glob("*/*.y*ml")):
            template = parse_template(path.read_text(encoding="utf-8"), str(path))
            if path.parent.name != template.integration or path.stem != template.name:
                raise TemplateError(
                    f"{path}: declares {template.integration}/{template.name}; move it to "
                    f"{folder}/{template.integration}/{template.name}.yaml"
                )
            found.add(template)
    return found
