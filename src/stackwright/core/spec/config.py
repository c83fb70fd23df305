"""``stackwright.yaml``: the project, its variables and its environments.

Variables are resolved with this precedence: values given by the caller (``--var``), then
``STACKWRIGHT_VAR_<name>`` environment variables, then the environment's ``variables``, then
the declared default. A variable without a declared ``type`` takes the type of its default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.core.model import Address
from stackwright.core.spec.cache import SpecCache
from stackwright.core.spec.refs import NAME_PATTERN
from stackwright.core.spec.yamlpos import FieldPath, YamlDocument, field_name, parse_documents
from stackwright.errors import Location, SpecError
from stackwright.registry import did_you_mean

CONFIG_FILE = "stackwright.yaml"
DEFAULT_TARGET = "local"
VARIABLE_TYPES = ("string", "integer", "number", "boolean", "list", "map")
ENV_VAR_PREFIX = "STACKWRIGHT_VAR_"

PROJECT_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_NAME = re.compile(NAME_PATTERN)
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_ADDRESS = re.compile(rf"([A-Z][A-Za-z0-9]*)/({NAME_PATTERN})")
_TOP_KEYS = (
    "project",
    "target",
    "defaultEnvironment",
    "variables",
    "environments",
    "state",
    "settings",
)
_VARIABLE_KEYS = ("default", "type", "sensitive", "description")
_ENVIRONMENT_KEYS = ("variables", "overrides")


@dataclass(frozen=True)
class VariableDecl:
    """A declared variable; ``type`` None accepts any value."""

    name: str
    type: str | None = None
    default: Any = None
    has_default: bool = False
    sensitive: bool = False
    description: str = ""
    location: Location | None = None

    @property
    def required(self) -> bool:
        return not self.has_default


@dataclass(frozen=True)
class EnvironmentSpec:
    """One environment: its variable values and per-resource spec overrides."""

    name: str
    variables: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[Address, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ProjectConfig:
    """``stackwright.yaml`` parsed, without reading any resource file."""

    name: str
    root: Path
    config_file: Path
    target: str
    default_environment: str
    environments: tuple[str, ...]
    state_url: str | None
    settings: Mapping[str, Any]
    variables: Mapping[str, VariableDecl] = field(default_factory=dict)
    environment_specs: Mapping[str, EnvironmentSpec] = field(default_factory=dict)
    document: YamlDocument | None = field(default=None, repr=False, compare=False)

    def locate(self, path: FieldPath) -> Location:
        """Where ``path`` is written in stackwright.yaml (or its nearest parent)."""
        if self.document is None:
            return Location(CONFIG_FILE)
        return self.document.location(path)


def resolve_environment(config: ProjectConfig, environment: str | None) -> str:
    """The environment to use: the one asked for, else the project's default."""
    name = environment or config.default_environment
    if name not in config.environments:
        hint = did_you_mean(name, config.environments)
        raise SpecError(
            f"unknown environment {name!r}",
            hint=hint or f"environments: {', '.join(config.environments)}",
        )
    return name


def parse_config(root: Path) -> tuple[ProjectConfig | None, list[SpecError]]:
    """The config and every problem in it; None when it cannot be read at all."""
    path = root / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "run `stackwright init` to create one, or pass the project directory"
        return None, [
            SpecError(f"no {CONFIG_FILE} in {root}", location=Location(CONFIG_FILE), hint=hint)
        ]
    except (OSError, UnicodeDecodeError) as exc:
        message = f"cannot read {CONFIG_FILE}: {exc}"
        return None, [SpecError(message, location=Location(CONFIG_FILE))]
    cache = SpecCache(root) if SpecCache.enabled() else None
    documents = cache.get(CONFIG_FILE, text) if cache is not None else None
    fresh = documents is None
    if documents is None:
        documents, errors = parse_documents(text, CONFIG_FILE)
        if errors:
            return None, errors
    if len(documents) != 1 or not isinstance(documents[0].tree, dict):
        where = documents[1].location() if len(documents) > 1 else Location(CONFIG_FILE)
        message = f"{CONFIG_FILE} must hold exactly one mapping (project, variables, ...)"
        return None, [SpecError(message, location=where)]
    parser = _ConfigParser(documents[0])
    config = parser.parse(root, path)
    if fresh and cache is not None and config is not None and not parser.errors:
        _remember(cache, text, documents, config)
    return config, parser.errors


def _remember(cache: SpecCache, text: str, documents: list[YamlDocument],
              config: ProjectConfig) -> None:
    """Keep the parsed config in the spec cache (then a plan whose files are all cached needs
    no YAML parser), unless it may hold a secret: a sensitive variable's value, or a state
    URL (which may carry a password)."""
    if config.state_url is None and not any(v.sensitive for v in config.variables.values()):
        cache.put(CONFIG_FILE, text, documents)


class _ConfigParser:
    """Reads the config tree, collecting located errors instead of stopping at the first."""

    def __init__(self, document: YamlDocument) -> None:
        self.doc = document
        self.tree: dict[str, Any] = document.tree
        self.errors: list[SpecError] = []

    def error(
        self, path: FieldPath, message: str, hint: str | None = None, *, value: bool = True
    ) -> None:
        """An error about the value at ``path`` (or, with ``value=False``, about the field)."""
        location = self.doc.location(path, value=value)
        self.errors.append(SpecError(message, location=location, field=field_name(path), hint=hint))

    def parse(self, root: Path, config_file: Path) -> ProjectConfig:
        self.check_keys((), self.tree, _TOP_KEYS)
        variables = self.variables()
        specs = self.environments(variables)
        names = tuple(specs)
        default = self.default_environment(names)
        return ProjectConfig(
            name=self.project_name(),
            root=root,
            config_file=config_file,
            target=self.string(("target",), DEFAULT_TARGET),
            default_environment=default,
            environments=names or (default,),
            state_url=self.state_url(),
            settings=self.mapping(("settings",)),
            variables=variables,
            environment_specs=specs or {default: EnvironmentSpec(default)},
            document=self.doc,
        )

    def check_keys(
        self, path: FieldPath, tree: Mapping[Any, Any], allowed: tuple[str, ...]
    ) -> None:
        for key in tree:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed) or f"allowed: {', '.join(allowed)}"
                self.error((*path, key), f"unknown field {key!r}", hint, value=False)

    def string(self, path: FieldPath, default: str) -> str:
        value = self.tree.get(str(path[0]), default) if len(path) == 1 else default
        if value is None:
            return default
        if not isinstance(value, str):
            self.error(path, f"expected a string, got {show(value)}")
            return default
        return value

    def mapping(self, path: FieldPath, tree: Any = None) -> dict[Any, Any]:
        value = self.tree.get(str(path[0])) if tree is None else tree
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {show(value)}")
            return {}
        return value

    def project_name(self) -> str:
        name = self.tree.get("project")
        if name is None:
            self.error((), "project is required", "add `project: my-project`")
            return ""
        if not isinstance(name, str) or not PROJECT_NAME.fullmatch(name):
            self.error(
                ("project",),
                f"invalid project name {show(name)}",
                "use lowercase letters, digits and '-'",
            )
            return str(name)
        return name

    def state_url(self) -> str | None:
        state = self.mapping(("state",))
        self.check_keys(("state",), state, ("url",))
        url = state.get("url")
        if url is not None and not isinstance(url, str):
            self.error(("state", "url"), f"expected a string, got {show(url)}")
            return None
        return url

    def variables(self) -> dict[str, VariableDecl]:
        out: dict[str, VariableDecl] = {}
        for name, body in self.mapping(("variables",)).items():
            path: FieldPath = ("variables", name)
            if not isinstance(name, str) or not _VARIABLE_NAME.fullmatch(name):
                self.error(
                    path,
                    f"invalid variable name {show(name)}",
                    "use letters, digits, '_' and '-', not starting with a digit",
                )
                continue
            out[name] = self.variable(name, body, path)
        return out

    def variable(self, name: str, body: Any, path: FieldPath) -> VariableDecl:
        location = self.doc.location(path)
        if not isinstance(body, dict):
            kind = infer_type(body)
            return VariableDecl(name, kind, body, body is not None, location=location)
        self.check_keys(path, body, _VARIABLE_KEYS)
        declared = body.get("type")
        if declared is not None and declared not in VARIABLE_TYPES:
            hint = did_you_mean(str(declared), VARIABLE_TYPES)
            hint = hint or f"one of {', '.join(VARIABLE_TYPES)}"
            self.error((*path, "type"), f"unknown type {show(declared)}", hint)
            declared = None
        has_default = "default" in body and body["default"] is not None
        default = body.get("default")
        kind = declared or infer_type(default)
        if has_default and kind is not None:
            default, problem = check_value(kind, default)
            if problem:
                self.error((*path, "default"), problem)
        sensitive = body.get("sensitive", False)
        if not isinstance(sensitive, bool):
            self.error((*path, "sensitive"), f"expected true or false, got {show(sensitive)}")
        return VariableDecl(
            name,
            kind,
            default,
            has_default,
            sensitive is True,
            str(body.get("description") or ""),
            location,
        )

    def environments(self, variables: Mapping[str, VariableDecl]) -> dict[str, EnvironmentSpec]:
        out: dict[str, EnvironmentSpec] = {}
        for name, body in self.mapping(("environments",)).items():
            path: FieldPath = ("environments", name)
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                self.error(
                    path,
                    f"invalid environment name {show(name)}",
                    "use lowercase letters, digits, '-' and '_'",
                )
                continue
            body = self.mapping(path, body if body is not None else {})
            self.check_keys(path, body, _ENVIRONMENT_KEYS)
            values = self.environment_variables(path, body.get("variables"), variables)
            out[name] = EnvironmentSpec(name, values, self.overrides(path, body.get("overrides")))
        return out

    def environment_variables(
        self, path: FieldPath, body: Any, variables: Mapping[str, VariableDecl]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.mapping((*path, "variables"), body or {}).items():
            decl = variables.get(name)
            if decl is None:
                hint = did_you_mean(str(name), list(variables)) or "declare it under `variables:`"
                where = (*path, "variables", name)
                self.error(where, f"unknown variable {name!r}", hint, value=False)
                continue
            if decl.type is not None and value is not None:
                value, problem = check_value(decl.type, value)
                if problem:
                    self.error((*path, "variables", name), problem)
                    continue
            out[name] = value
        return out

    def overrides(self, path: FieldPath, body: Any) -> dict[Address, Mapping[str, Any]]:
        out: dict[Address, Mapping[str, Any]] = {}
        for key, value in self.mapping((*path, "overrides"), body or {}).items():
            where: FieldPath = (*path, "overrides", key)
            match = _ADDRESS.fullmatch(key) if isinstance(key, str) else None
            if match is None:
                self.error(where, f"not a resource address: {show(key)}", "write it as Kind/name")
                continue
            value = self.mapping(where, value if value is not None else {})
            self.check_keys(where, value, ("spec",))
            spec = self.mapping((*where, "spec"), value.get("spec") or {})
            out[Address(match.group(1), match.group(2))] = spec
        return out

    def default_environment(self, names: tuple[str, ...]) -> str:
        given = self.tree.get("defaultEnvironment")
        if given is None:
            return names[0] if names else "default"
        if not isinstance(given, str):
            self.error(("defaultEnvironment",), f"expected a string, got {show(given)}")
        elif names and given not in names:
            hint = did_you_mean(given, names) or f"environments: {', '.join(names)}"
            self.error(("defaultEnvironment",), f"unknown environment {given!r}", hint)
        else:
            return given
        return names[0] if names else "default"


def infer_type(value: Any) -> str | None:
    """The variable type of a default value; None for no default."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return None


def check_value(kind: str, value: Any) -> tuple[Any, str | None]:
    """``value`` as a ``kind``, coercing strings; or a message saying why it is not one."""
    if isinstance(value, str) and kind != "string":
        return coerce_text(kind, value)
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "list": isinstance(value, list),
        "map": isinstance(value, dict),
    }[kind]
    return (value, None) if ok else (value, expected(kind, value))


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def coerce_text(kind: str, text: str) -> tuple[Any, str | None]:
    """A string given on the command line or in the environment, as a ``kind``."""
    stripped = text.strip()
    try:
        if kind == "integer":
            return int(stripped), None
        if kind == "number":
            return (int(stripped) if re.fullmatch(r"[-+]?\d+", stripped) else float(stripped)), None
    except ValueError:
        return text, expected(kind, text)
    if kind == "boolean" and stripped.lower() in _TRUE | _FALSE:
        return stripped.lower() in _TRUE, None
    if kind in ("list", "map"):
        return _coerce_structure(kind, text)
    return (text, None) if kind == "string" else (text, expected(kind, text))


def _coerce_structure(kind: str, text: str) -> tuple[Any, str | None]:
    import yaml

    try:
        value = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return text, expected(kind, text)
    wanted = list if kind == "list" else dict
    return (value, None) if isinstance(value, wanted) else (text, expected(kind, text))


_ARTICLES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "list": "a list",
    "map": "a mapping",
}


def expected(kind: str, value: Any) -> str:
    return f"expected {_ARTICLES.get(kind, kind)}, got {show(value)}"


def show(value: Any) -> str:
    """A short, YAML-flavoured rendering of a value for messages."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)
