"""Read, override, validate, save and hash configs."""

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any, get_type_hints

import yaml

from mlip_gnn.utils.files import atomic_write

from mlip_gnn.utils.schema import ConfigError, build, dotted, section_type, unknown_key
from .schema import Config

_DATA_PATH_FIELDS = ("train", "valid", "test")


def load_config(path: str | os.PathLike, overrides: Iterable[str] = ()) -> Config:
    """Read a YAML config file, apply ``overrides`` and validate.

    ``overrides`` are ``"section.key=value"`` strings (``"seed=1"`` at the top level,
    ``"data.keys.energy=free_energy"`` deeper); the value is parsed as YAML, so
    ``train.max_epochs=5``, ``model.radial_mlp=[32,32]`` and ``data.valid=null`` work.

    Paths are made absolute, so that the config means the same wherever it is saved:
    relative ``data.train/valid/test``, ``model.init_from`` and ``finetune.replay`` paths
    written in the file are relative to the file's directory; those given as overrides,
    and ``output.run_dir`` wherever it comes from, are relative to the current working
    directory. ``~`` is expanded.

    Raises ConfigError for a missing or malformed file and for any invalid setting.
    """
    path = os.fspath(path)
    raw = read_yaml_mapping(path)
    overrides = list(overrides)
    applied: list[tuple[str, str]] = []  # (dotted key, override text)
    for text in overrides:
        applied.append((_apply_override(raw, text), text))
    try:
        cfg = build(Config, raw)
    except ConfigError as err:
        source = next(
            (f"override {text!r}" for key, text in applied if _covers(key, err.field)), path
        )
        raise ConfigError(err.message, field=err.field, source=source) from None

    config_dir = os.path.dirname(os.path.abspath(path))
    for name in _DATA_PATH_FIELDS:
        files = getattr(cfg.data, name)
        from_override = any(_covers(key, f"data.{name}") for key, _ in applied)
        base = os.getcwd() if from_override else config_dir
        if files is not None:
            setattr(cfg.data, name, [_absolute(f, base) for f in files])
    for section, name in (("model", "init_from"), ("finetune", "replay")):
        value = getattr(getattr(cfg, section), name)
        from_override = any(_covers(key, f"{section}.{name}") for key, _ in applied)
        base = os.getcwd() if from_override else config_dir
        if isinstance(value, list):
            setattr(getattr(cfg, section), name, [_absolute(f, base) for f in value])
        elif value is not None:
            setattr(getattr(cfg, section), name, _absolute(value, base))
    cfg.output.run_dir = _absolute(cfg.output.run_dir, os.getcwd())
    return cfg


def config_from_dict(d: Mapping[str, Any], source: str = "<dict>") -> Config:
    """Validate a plain nested dict (as from YAML) into a Config; paths are kept as given.

    ``source`` names where ``d`` came from in error messages.
    """
    try:
        return build(Config, d)
    except ConfigError as err:
        raise ConfigError(err.message, field=err.field, source=source) from None


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The config as plain dicts, lists, str, int, float, bool and None (YAML/JSON-safe)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Config, path: str | os.PathLike) -> None:
    """Write ``cfg`` as YAML atomically: a reader sees the old file or the new, never half.

    The config is validated first, so a config mutated into an invalid state is not saved.
    The parent directory must exist.
    """
    path = os.fspath(path)
    data = config_to_dict(cfg)
    config_from_dict(data, source=f"config to save to {path}")
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True)
    with atomic_write(path, "w") as stream:
        stream.write(text)


def config_hash(cfg: Config) -> str:
    """First 16 hex digits of the sha256 of the config's canonical JSON.

    Absolute paths are part of the config, so the same file loaded from another
    directory layout hashes differently.
    """
    canonical = json.dumps(
        config_to_dict(cfg), sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def read_yaml_mapping(path: str | os.PathLike, what: str = "config file") -> dict[str, Any]:
    """The mapping at the top of the YAML file ``path`` (read with ``safe_load``); a
    missing, binary or malformed file, or another top level, is a :class:`ConfigError`
    that names the file (and the line of a YAML error)."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as stream:
            raw = yaml.safe_load(stream)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory; give a YAML file", source=path) from None
    except OSError as err:
        raise ConfigError(f"cannot read {what}: {err.strerror}", source=path) from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"not a text file (byte {err.start} is not UTF-8); a YAML {what} "
                          "was expected", source=path) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"malformed YAML{where}: {problem}", source=path) from None
    if not isinstance(raw, dict):
        kind = "an empty file" if raw is None else type(raw).__name__
        raise ConfigError(f"top level must be a mapping of sections, got {kind}", source=path)
    return raw


def _apply_override(raw: dict[str, Any], text: str) -> str:
    """Set ``section.key=value`` in ``raw``; return the dotted key."""
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError("--set takes KEY=VALUE, e.g. --set train.max_epochs=50",
                          source=f"override {text!r}")
    try:
        value = yaml.safe_load(value_text)
    except yaml.YAMLError as err:
        raise ConfigError(f"value is not valid YAML: {err}", source=f"override {text!r}") from None
    parts = key.split(".")
    # Walk the schema, not the raw dict, so a misspelt key fails here with a suggestion.
    cls, node = Config, raw
    for depth, name in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        where = ".".join(parts[:depth])
        retired = getattr(cls, "_retired", {})
        if name not in fields and name in retired:
            path = dotted(where, name)
            raise ConfigError(f"{path} was removed: {retired[name]}", field=path,
                              source=f"override {text!r}")
        if name not in fields:
            raise ConfigError(
                unknown_key(where, name, list(fields)).message,
                field=dotted(where, name),
                source=f"override {text!r}",
            )
        if depth == len(parts) - 1:
            node[name] = value
            break
        sub = section_type(get_type_hints(cls)[name])
        if sub is None:
            raise ConfigError(
                f"{dotted(where, name)} is not a section; set it whole, "
                f"e.g. {dotted(where, name)}=<yaml value>",
                source=f"override {text!r}",
            )
        if node.get(name) is None:
            node[name] = {}
        elif not isinstance(node[name], dict):
            raise ConfigError(
                f"{dotted(where, name)} in the file is not a mapping", source=f"override {text!r}"
            )
        cls, node = sub, node[name]
    return key


def _covers(key: str, field: str | None) -> bool:
    """Whether an override of ``key`` set ``field`` (the key itself or inside it)."""
    return field is not None and (field == key or field.startswith((key + ".", key + "[")))


def _absolute(path: str, base: str) -> str:
    return os.path.normpath(os.path.join(base, os.path.expanduser(path)))
