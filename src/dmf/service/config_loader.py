"""Load a service configuration: multi-document YAML, environment overrides, strict validation.

The seed's dmf-worker.yml is several YAML documents separated by `---`; Micronaut merges them, so
we deep-merge them in order. Every key can also come from the environment, under a name derived
from its key path (`http.admin.username` -> `HTTP_ADMIN_USERNAME`, `-` and `.` become `_`); the
environment wins. Names are derived from the model's key paths plus the keys present in the file
(so entries of open maps such as `dmf.doveadm.source.POD_1` can be overridden too, but an
environment variable cannot invent a new map entry). Two key paths that map to the same variable
name are ambiguous: when that variable is set, loading fails instead of guessing.

Environment values are YAML scalars (`10` is an integer, `[a, b]` a list, empty is unset),
except for string-typed keys, which take the value verbatim so that a password such as `0123`
or `yes` survives. Validation errors become one `ConfigError` line naming the key path.
"""

from __future__ import annotations

import datetime
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, SecretStr, ValidationError

from dmf.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

KeyPath = tuple[str, ...]

_SECRET_WORDS = ("password", "secret")


# ---------------------------------------------------------------- durations

_SIMPLE_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$", re.IGNORECASE)
_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> datetime.timedelta:
    """Micronaut accepts `5s`, `1m`, `500ms` and ISO-8601 `PT1M`; a bare number is milliseconds,
    as Micronaut reads a unitless duration."""
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 5s, 1m or PT1M, got {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000
    elif isinstance(value, str):
        seconds = _duration_seconds(value)
    else:
        raise ValueError(f"expected a duration such as 5s, 1m or PT1M, got {value!r}")
    if seconds < 0:
        raise ValueError(f"expected a positive duration, got {value!r}")
    return datetime.timedelta(seconds=seconds)


def _duration_seconds(text: str) -> float:
    if text.strip().isdigit():
        return int(text) / 1000
    simple = _SIMPLE_DURATION.match(text)
    if simple:
        return float(simple.group(1)) * _UNIT_SECONDS[simple.group(2).lower()]
    iso = _ISO_DURATION.match(text.strip())
    if iso and text.strip().upper() not in ("P", "PT") and any(iso.groupdict().values()):
        parts = {k: float(v) for k, v in iso.groupdict().items() if v}
        return (parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600
                + parts.get("m", 0) * 60 + parts.get("s", 0))
    raise ValueError(f"expected a duration such as 5s, 1m or PT1M, got {text!r}")


Duration = Annotated[datetime.timedelta, BeforeValidator(parse_duration)]


# ---------------------------------------------------------------- YAML files

def read_yaml_documents(path: Path | str) -> dict[str, Any]:
    """All documents of one file, deep-merged in order (later documents win)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from None
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None
    merged: dict[str, Any] = {}
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ConfigError(f"{path}: YAML document {number} is not a mapping of keys")
        merged = deep_merge(merged, document)
    return merged


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; any other value (lists included) replaces the earlier one."""
    merged = dict(base)
    for key, value in override.items():
        earlier = merged.get(key)
        if isinstance(earlier, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(earlier, value)
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------- key paths and the environment

def env_name(path: KeyPath) -> str:
    """`("http", "admin", "username")` -> `HTTP_ADMIN_USERNAME`."""
    return re.sub(r"[-.]", "_", "_".join(path)).upper()


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional so the walker sees the shape of the value."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _model_map_value(annotation: Any) -> type[BaseModel] | None:
    """The value model of a `dict[str, SomeModel]` field (an open map of named sections)."""
    if typing.get_origin(annotation) in (dict, Mapping):
        args = typing.get_args(annotation)
        if len(args) == 2 and _is_model(_unwrap(args[1])):
            return _unwrap(args[1])
    return None


def _is_text(annotation: Any) -> bool:
    """True for keys whose environment value must be kept verbatim (`str`, `SecretStr`, and
    either `| None`)."""
    return _unwrap(annotation) in (str, SecretStr)


def _field_key(name: str, field: Any) -> str:
    return field.alias or name


def _leaf_paths(model: type[BaseModel], document: Any,
                prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, bool]]:
    """Every settable key path of `model` (and of the open maps present in `document`), with
    whether the key is text."""
    section = document if isinstance(document, Mapping) else {}
    for name, field in model.model_fields.items():
        key = _field_key(name, field)
        path = prefix + (key,)
        annotation = _unwrap(field.annotation)
        if _is_model(annotation):
            yield from _leaf_paths(annotation, section.get(key), path)
            continue
        entry_model = _model_map_value(annotation)
        if entry_model is not None:
            entries = section.get(key)
            if isinstance(entries, Mapping):
                for entry_name, entry in entries.items():
                    yield from _leaf_paths(entry_model, entry, path + (str(entry_name),))
            continue
        yield path, _is_text(annotation)
        value = section.get(key)
        if isinstance(value, Mapping):  # free-form maps such as retry.code-max
            yield from _document_leaves(value, path)


def _document_leaves(section: Mapping[Any, Any], prefix: KeyPath) -> Iterator[tuple[KeyPath, bool]]:
    for key, value in section.items():
        path = prefix + (str(key),)
        if isinstance(value, Mapping):
            yield from _document_leaves(value, path)
        else:
            yield path, False


def key_paths(model: type[BaseModel], document: Mapping[str, Any]) -> list[KeyPath]:
    """Every key path the environment can set for `model` and this document."""
    return [path for path, _is_text in _leaf_paths(model, document)]


def _environment_value(raw: str, is_text: bool) -> Any:
    if raw == "":
        return None
    if is_text:
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def apply_environment(model: type[BaseModel], document: Mapping[str, Any],
                      environ: Mapping[str, str]) -> dict[str, Any]:
    """The document with every key whose derived variable is set in `environ` replaced."""
    by_name: dict[str, list[tuple[KeyPath, bool]]] = {}
    for path, is_text in _leaf_paths(model, document):
        candidates = by_name.setdefault(env_name(path), [])
        if all(path != known for known, _ in candidates):
            candidates.append((path, is_text))
    result = deep_merge({}, document)
    for name, candidates in by_name.items():
        if name not in environ:
            continue
        if len(candidates) > 1:
            keys = " and ".join(".".join(p) for p, _ in candidates)
            raise ConfigError(f"environment variable {name} is ambiguous: it names {keys}")
        path, is_text = candidates[0]
        _set_path(result, path, _environment_value(environ[name], is_text))
    return result


def _set_path(document: dict[str, Any], path: KeyPath, value: Any) -> None:
    section = document
    for key in path[:-1]:
        child = section.get(key)
        if not isinstance(child, dict):
            child = {}
            section[key] = child
        section = child
    section[path[-1]] = value


def drop_empty_sections(model: type[BaseModel], document: Mapping[str, Any]) -> dict[str, Any]:
    """YAML writes an empty section as `key:` (None); for a section or map key that means 'use
    the defaults', as Micronaut reads it."""
    cleaned: dict[str, Any] = {}
    fields = {_field_key(n, f): f for n, f in model.model_fields.items()}
    for key, value in document.items():
        field = fields.get(key)
        if field is None:
            cleaned[key] = value  # left for validation to reject as unknown
            continue
        annotation = _unwrap(field.annotation)
        entry_model = _model_map_value(annotation)
        if _is_model(annotation):
            if value is None:
                continue
            if isinstance(value, Mapping):
                value = drop_empty_sections(annotation, value)
        elif entry_model is not None:
            if value is None:
                continue
            if isinstance(value, Mapping):
                value = {k: drop_empty_sections(entry_model, v) if isinstance(v, Mapping)
                         else ({} if v is None else v) for k, v in value.items()}
        cleaned[key] = value
    return cleaned


# ---------------------------------------------------------------- validation errors

_KINDS = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a section of keys",
    "model_type": "expected a section of keys",
    "model_attributes_type": "expected a section of keys",
    "list_type": "expected a list",
    "extra_forbidden": "unknown key",
    "missing": "required key missing",
}


def _is_secret(path: Sequence[Any]) -> bool:
    return any(word in str(key).lower() for key in path for word in _SECRET_WORDS)


def describe_error(error: Mapping[str, Any]) -> str:
    """One pydantic error as `dmf.worker.jobs.max: expected an integer, got 'ten'`."""
    path = [str(p) for p in error["loc"] if not _is_union_tag(p)]
    where = ".".join(path) or "configuration"
    kind = error["type"]
    if kind in ("extra_forbidden", "missing"):
        return f"{where}: {_KINDS[kind]}"
    text = _KINDS.get(kind)
    if text is None:
        text = str(error["msg"])
        text = text.removeprefix("Value error, ")
        text = text[:1].lower() + text[1:]
    if "got " in text:
        return f"{where}: {text}" if not _is_secret(path) else f"{where}: {text.split(', got')[0]}"
    shown = "<hidden>" if _is_secret(path) else repr(error.get("input"))
    return f"{where}: {text}, got {shown}"


def _is_union_tag(part: Any) -> bool:
    """pydantic puts the tried member (`str`, `list[str]`) into loc for unions; a user never
    wrote those."""
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "bool", "float"))


def format_validation_error(exc: ValidationError) -> str:
    seen: list[str] = []
    for error in exc.errors():
        line = describe_error(error)
        if line not in seen:
            seen.append(line)
    return "; ".join(seen)


# ---------------------------------------------------------------- the entry point

def validate_document(model: type[M], document: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(drop_empty_sections(model, document))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def load_config(model: type[M], paths: Sequence[Path | str] = (),
                environ: Mapping[str, str] | None = None) -> M:
    """Read the files in order (later files and documents win), apply the environment, validate.

    `environ` defaults to nothing rather than `os.environ` so that tests and library callers
    decide explicitly; the CLI passes `os.environ`.
    """
    document: dict[str, Any] = {}
    for path in paths:
        document = deep_merge(document, read_yaml_documents(path))
    document = apply_environment(model, drop_empty_sections(model, document), environ or {})
    return validate_document(model, document)
