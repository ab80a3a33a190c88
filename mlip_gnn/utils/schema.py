"""The schema toolkit of every YAML the project reads (the training config, AL.yaml,
SYSTEM.yaml): plain data validated against annotated dataclasses.

The type annotations say what a field may hold; ``setting(...)`` adds a docstring and
range / pattern constraints in the field's metadata. A section may add cross-field checks by
overriding ``Section._cross_check``. Everything the user gets wrong is a ``ConfigError``
that names the dotted field, the bad value and what is allowed (a reader may re-raise it
as its own error). Standard library only, so that any layer may use it without loading
the training config.
"""

import dataclasses
import math
import re
import types
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.utils.suggest import did_you_mean

_UNION_ORIGINS = (Union, types.UnionType)
# PyYAML follows YAML 1.1, where a float needs a dot: "1e-3" is read as a string.
_YAML11_FLOAT_STRING = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class ConfigError(MlipGnnError, ValueError):
    """Raised for any invalid configuration: bad YAML, unknown key, wrong type or value.

    ``field`` is the dotted name of the offending field (None for file-level problems),
    ``source`` the file or override the problem came from.
    """

    def __init__(self, message: str, *, field: str | None = None, source: str | None = None):
        self.message = message
        self.field = field
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class _Mismatch(ConfigError):
    """A value of the wrong type; a union catches it and tries its next member."""

    def __init__(self, where: str, expected: str, value: Any, choices=(), hint: str = ""):
        self.expected, self.value, self.choices, self.hint = expected, value, choices, hint
        message = f"{where}: got {_show(value)}; expected {expected}"
        if isinstance(value, str):
            message += did_you_mean(value, [c for c in choices if isinstance(c, str)])
        if hint:
            message += f" ({hint})"
        super().__init__(message, field=where)


class Section:
    """Base of every config section (a keyword-only dataclass).

    ``_retired`` maps a key the section no longer has to what replaced it: a config that
    still gives it gets that message instead of "unknown key".
    """

    _retired: ClassVar[Mapping[str, str]] = {}

    def _cross_check(self, where: str) -> None:
        """Check constraints between fields; ``where`` is this section's dotted name."""


def setting(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    *,
    factory: Any = dataclasses.MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    pattern: str | None = None,
    allowed: str | None = None,
    one_or_many: bool = False,
) -> Any:
    """A dataclass field with a docstring (give the unit) and constraints.

    No default and no factory makes the field required. Bounds apply to every number in
    the value (each element of a list); ``pattern`` (full match, described to the user by
    ``allowed``) applies to plain strings; ``one_or_many`` lets a single string stand for
    a one-element list.
    """
    meta = dict(doc=doc, ge=ge, gt=gt, le=le, lt=lt, pattern=pattern, allowed=allowed)
    meta = {key: value for key, value in meta.items() if value is not None}
    if one_or_many:
        meta["one_or_many"] = True
    return dataclasses.field(default=default, default_factory=factory, metadata=meta)


def dotted(where: str, name: str) -> str:
    """The dotted name of field ``name`` of the section at ``where``."""
    return f"{where}.{name}" if where else name


def unknown_key(where: str, key: str, valid: list[str]) -> ConfigError:
    """The error for ``key`` not among ``valid``, with the nearest valid key."""
    full = dotted(where, key)
    hint = did_you_mean(key, valid, "; did you mean {!r}?")
    return ConfigError(
        f"unknown key {full!r}{hint} valid keys: {', '.join(sorted(valid))}", field=full
    )


def section_type(annotation: Any) -> type | None:
    """The section class an annotation names, or None if it is not a section."""
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return annotation
    return None


def build(cls: type, data: Any, where: str = "") -> Any:
    """Validate ``data`` (a mapping, or None for an empty YAML section) into ``cls``."""
    if data is None:  # "model:" with nothing under it means "all defaults"
        data = {}
    if not isinstance(data, Mapping):
        raise _Mismatch(where or "top level", f"a mapping of {cls.__name__} keys", data)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"{where or 'top level'}: key {key!r} is not a string", field=where)
        if key not in fields and key in cls._retired:
            path = dotted(where, key)
            raise ConfigError(f"{path} was removed: {cls._retired[key]}", field=path)
        if key not in fields:
            raise unknown_key(where, key, list(fields))
    hints = get_type_hints(cls)
    kwargs = {}
    for name, spec in fields.items():
        path = dotted(where, name)
        if name not in data:
            required = spec.default is dataclasses.MISSING
            if required and spec.default_factory is dataclasses.MISSING:
                doc = spec.metadata.get("doc", "")
                raise ConfigError(f"missing required key {path!r} ({doc})", field=path)
            continue
        value = data[name]
        one_or_many = spec.metadata.get("one_or_many", False)
        if one_or_many and isinstance(value, str):
            value = [value]
        try:
            kwargs[name] = _coerce(hints[name], value, path, spec.metadata)
        except _Mismatch as miss:
            if one_or_many and miss.field == path:  # say that a single str is fine too
                raise _Mismatch(path, f"str or {miss.expected}", value) from None
            raise
    section = cls(**kwargs)
    section._cross_check(where)
    return section


def _coerce(tp: Any, value: Any, where: str, meta: Mapping[str, Any]) -> Any:
    """Check ``value`` against annotation ``tp``; return it in canonical form."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in _UNION_ORIGINS:
        return _coerce_union(tp, value, where, meta)
    if origin is Literal:
        if any(type(value) is type(arg) and value == arg for arg in args):
            return value
        raise _Mismatch(where, describe(tp), value, choices=args)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(where, describe(tp), value)
        return [_coerce(args[0], item, f"{where}[{i}]", meta) for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _Mismatch(where, describe(tp), value)
        out = {}
        for key, item in value.items():
            key = _coerce(args[0], key, f"{where} key", {})
            out[key] = _coerce(args[1], item, f"{where}.{key}", meta)
        return out
    if section_type(tp) is not None:
        return build(tp, value, where)
    if tp is type(None):
        if value is not None:
            raise _Mismatch(where, "null", value)
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise _Mismatch(where, "bool (true or false)", value)
        return value
    if tp is int or tp is float:
        return _coerce_number(tp, value, where, meta)
    if tp is str:
        if not isinstance(value, str):
            raise _Mismatch(where, "str", value)
        pattern = meta.get("pattern")
        if pattern is not None and re.fullmatch(pattern, value) is None:
            raise ConfigError(f"{where}: got {value!r}; must be {meta['allowed']}", field=where)
        return value
    raise TypeError(f"{where}: unsupported annotation {tp!r} in the config schema")


def _coerce_union(tp: Any, value: Any, where: str, meta: Mapping[str, Any]) -> Any:
    misses = []
    for member in get_args(tp):
        try:
            return _coerce(member, value, where, meta)
        except _Mismatch as miss:
            misses.append(miss)
    # A list or mapping that failed deep inside: the innermost error is the useful one.
    deepest = max(misses, key=lambda miss: len(miss.field or ""))
    if len(deepest.field or "") > len(where):
        raise deepest
    choices = tuple(c for miss in misses for c in miss.choices)
    hint = next((miss.hint for miss in misses if miss.hint), "")
    raise _Mismatch(where, describe(tp), value, choices=choices, hint=hint)


def _coerce_number(tp: type, value: Any, where: str, meta: Mapping[str, Any]) -> Any:
    # bool is a subclass of int in Python but never a number in a config.
    accepted = (int,) if tp is int else (int, float)
    if tp is float and isinstance(value, str) and _YAML11_FLOAT_STRING.fullmatch(value):
        value = float(value)  # "1e-3": a number that YAML 1.1 reads as a string
    if isinstance(value, bool) or not isinstance(value, accepted):
        raise _Mismatch(where, tp.__name__, value)
    value = tp(value)  # int -> float for float fields, so 1 and 1.0 save and hash alike
    if not math.isfinite(value):
        raise ConfigError(f"{where}: got {value!r}; must be a finite number", field=where)
    bounds = [
        (">=", meta.get("ge"), lambda v, b: v >= b),
        (">", meta.get("gt"), lambda v, b: v > b),
        ("<=", meta.get("le"), lambda v, b: v <= b),
        ("<", meta.get("lt"), lambda v, b: v < b),
    ]
    if not all(holds(value, bound) for _, bound, holds in bounds if bound is not None):
        rule = " and ".join(f"{op} {bound}" for op, bound, _ in bounds if bound is not None)
        raise ConfigError(f"{where}: got {value!r}; must be {rule}", field=where)
    return value


def describe(tp: Any) -> str:
    """Human-readable name of an annotation, for error messages."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in _UNION_ORIGINS:
        return " or ".join(describe(arg) for arg in args)
    if origin is Literal:
        listed = ", ".join(repr(arg) for arg in args)
        return listed if len(args) == 1 else f"one of {listed}"
    if origin is list:
        return f"list of {describe(args[0])}"
    if origin is dict:
        return f"mapping of {describe(args[0])} to {describe(args[1])}"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", repr(tp))


def _show(value: Any) -> str:
    kind = {type(None): "null", dict: "mapping"}.get(type(value), type(value).__name__)
    text = "" if value is None else " " + repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return kind + text


def not_one_of(path: str, problem: str, value: str, candidates, allowed: str) -> ConfigError:
    """The error ``path: problem; did you mean X? (allowed)``, with the candidate nearest to
    ``value`` when one is close."""
    hint = did_you_mean(value, candidates, "; did you mean {!r}?")
    return ConfigError(f"{path}: {problem}{hint} ({allowed})", field=path)
