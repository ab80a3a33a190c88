"""The structure-search YAML (``SEARCH.yaml``): one keyword-only dataclass per section.

Validated by the project's schema toolkit (:mod:`mlip_gnn.utils.schema`): unknown keys,
wrong types and values out of range are :class:`~mlip_gnn.utils.schema.ConfigError` naming
the dotted key, with the nearest valid key. Checks that need the whole config (an unknown
element, a minimum distance that cannot fit the atoms into the volume) name the key too.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping

import yaml
from ase.data import atomic_numbers, chemical_symbols, covalent_radii

from mlip_gnn.utils.schema import ConfigError, Section, build, dotted, not_one_of, setting

__all__ = ["SearchConfig", "ConstraintsConfig", "RelaxConfig", "BasinHoppingConfig",
           "MinimaHoppingConfig", "DedupConfig", "FlagConfig", "load_search_config",
           "search_config_from_dict", "MAX_PACKING", "METHODS"]

#: densest packing of equal spheres (Kepler): no arrangement of atoms kept ``min_distance``
#: apart fills more of a volume than this
MAX_PACKING = math.pi / (3.0 * math.sqrt(2.0))
METHODS = ("basin_hopping", "minima_hopping", "random")


@dataclass(kw_only=True)
class ConstraintsConfig(Section):
    """Where random atoms may go: composition, volume and minimum distance."""

    min_distance: float | None = setting(
        None, "smallest distance between random atoms, Å; null: 0.7 x the sum of covalent "
        "radii of the closest pair of elements", gt=0)
    radius: float | None = setting(
        None, "cluster mode: radius of the sphere random atoms are placed in, Å; null: "
        "from volume_per_atom's upper end", gt=0)
    volume_per_atom: List[float] | None = setting(
        None, "[low, high] range of the volume per atom of random cells, Å^3 (bulk; cluster: "
        "the high end sets the sphere); null: 1 to 2 x the atoms' covalent-sphere volume / "
        "0.74", gt=0)
    max_attempts: int = setting(1000, "random placements of one atom before giving up", ge=1)

    def _cross_check(self, where: str) -> None:
        vpa = self.volume_per_atom
        if vpa is not None and (len(vpa) != 2 or vpa[0] > vpa[1]):
            path = dotted(where, "volume_per_atom")
            raise ConfigError(f"{path}: got {vpa}; give [low, high] with low <= high",
                              field=path)


@dataclass(kw_only=True)
class RelaxConfig(Section):
    """The local relaxation of every trial (bulk: positions and cell, FrechetCellFilter)."""

    optimizer: Literal["BFGS", "FIRE", "LBFGS"] = setting(
        "BFGS", "ase.optimize class (mlip_gnn.search.relax.OPTIMIZERS)")
    fmax: float = setting(0.02, "force convergence, eV/Å (bulk: generalised cell force "
                          "too)", gt=0)
    steps: int = setting(500, "optimiser steps at most per relaxation", ge=1)
    maxstep: float = setting(0.2, "largest step of the optimiser, Å", gt=0)


@dataclass(kw_only=True)
class BasinHoppingConfig(Section):
    """Monte Carlo over minima: perturb the current minimum, relax, accept by Metropolis."""

    temperature_K: float = setting(1000.0, "Metropolis temperature kT/k_B, K", gt=0)
    step_size: float = setting(1.0, "largest random displacement per Cartesian "
                               "component, Å", gt=0)
    cell_strain: float = setting(0.05, "bulk: largest random symmetric strain of the cell",
                                 ge=0, lt=0.5)


@dataclass(kw_only=True)
class MinimaHoppingConfig(Section):
    """Goedecker's minima hopping: MD escapes with a self-adjusting temperature and an
    acceptance threshold (Goedecker, J. Chem. Phys. 120, 9911 (2004))."""

    temperature_K: float = setting(1000.0, "first MD temperature, K", gt=0)
    ediff: float = setting(0.5, "first acceptance threshold, eV", gt=0)
    mdmin: int = setting(2, "potential-energy minima along the MD path before relaxing",
                         ge=1)
    timestep_fs: float = setting(2.0, "MD time step, fs", gt=0)
    max_md_steps: int = setting(2000, "MD steps at most per escape", ge=1)
    beta_same: float = setting(1.1, "T factor after falling back into the current minimum",
                               gt=1)
    beta_old: float = setting(1.1, "T factor after reaching a minimum seen before", gt=1)
    beta_new: float = setting(1 / 1.1, "T factor after reaching a new minimum", gt=0, lt=1)
    alpha_accept: float = setting(0.98, "ediff factor after an accepted hop", gt=0, lt=1)
    alpha_reject: float = setting(1 / 0.98, "ediff factor after a rejected hop", gt=1)


@dataclass(kw_only=True)
class DedupConfig(Section):
    """When two minima are the same: energies and fingerprints both close."""

    energy_tol: float = setting(0.002, "largest energy difference, eV/atom", ge=0)
    fingerprint_tol: float = setting(0.05, "largest fingerprint distance |a - b| / mean |a| "
                                     "(0 = equal, 2 = nothing in common)", ge=0, le=2)
    r_cut: float = setting(6.0, "fingerprint cutoff: pair distances up to it, Å", gt=0)
    sigma: float = setting(0.1, "Gaussian width of each pair distance, Å", gt=0)


@dataclass(kw_only=True)
class FlagConfig(Section):
    """When the model is too unsure of a minimum (needs an uncertainty: a committee or an
    estimator): it is flagged and written to candidates.xyz."""

    energy_std_per_atom: float = setting(0.01, "energy uncertainty, eV/atom", gt=0)
    max_force_std: float = setting(0.1, "largest per-atom force uncertainty, eV/Å", gt=0)


@dataclass(kw_only=True)
class SearchConfig(Section):
    """A whole structure search."""

    composition: Dict[str, int] = setting(doc="element -> number of atoms, e.g. {Cu: 13}",
                                          ge=1)
    mode: Literal["cluster", "bulk"] = setting("cluster", "cluster: open boundaries; bulk: "
                                               "periodic cell, relaxed with the atoms")
    method: Literal["basin_hopping", "minima_hopping", "random"] = setting(
        "basin_hopping", "basin_hopping | minima_hopping | random (random structure search)")
    trials: int = setting(50, "budget: local relaxations in all (a rerun with more goes on)",
                          ge=1)
    seed: int = setting(0, "seed of every random choice (trial i draws from [seed, i])",
                        ge=0)
    models: List[str] = setting(factory=list, doc="exported files, checkpoints or run dirs "
                                "(relative to this file); several = committee; the command "
                                "line's --model replaces them", one_or_many=True)
    estimator: str | None = setting(None, "uncertainty estimator: committee | llpr | "
                                    "distance; null: committee with several models")
    out_dir: str = setting("search", "output folder (relative to the working directory)")
    constraints: ConstraintsConfig = setting(factory=ConstraintsConfig, doc="random atoms")
    relax: RelaxConfig = setting(factory=RelaxConfig, doc="local relaxation")
    basin_hopping: BasinHoppingConfig = setting(factory=BasinHoppingConfig,
                                                doc="method: basin_hopping")
    minima_hopping: MinimaHoppingConfig = setting(factory=MinimaHoppingConfig,
                                                  doc="method: minima_hopping")
    dedup: DedupConfig = setting(factory=DedupConfig, doc="distinct minima")
    flag: FlagConfig = setting(factory=FlagConfig, doc="uncertain minima")

    def _cross_check(self, where: str) -> None:
        if not self.composition:
            raise ConfigError("composition: give at least one element, e.g. {Cu: 13}",
                              field="composition")
        for symbol in self.composition:
            if symbol not in atomic_numbers or symbol == "X":
                raise not_one_of(f"composition.{symbol}", f"unknown element {symbol!r}",
                                 symbol, chemical_symbols[1:], "a chemical symbol such as Cu")
        if self.mode == "cluster" and sum(self.composition.values()) < 2:
            raise ConfigError("composition: a cluster needs two or more atoms",
                              field="composition")
        _check_packing(self)

    # --- derived values (the one source of each default) ---
    @property
    def symbols(self) -> List[str]:
        """Chemical symbols of the atoms, element by element."""
        return [s for s, n in self.composition.items() for _ in range(n)]

    @property
    def min_distance(self) -> float:
        """Smallest distance between random atoms, Å."""
        if self.constraints.min_distance is not None:
            return self.constraints.min_distance
        radii = [covalent_radii[atomic_numbers[s]] for s in self.composition]
        return 0.7 * 2.0 * min(radii)

    @property
    def volume_range(self) -> List[float]:
        """[low, high] volume per atom of random cells, Å^3."""
        if self.constraints.volume_per_atom is not None:
            return list(self.constraints.volume_per_atom)
        n = sum(self.composition.values())
        spheres = sum(count * 4.0 / 3.0 * math.pi * covalent_radii[atomic_numbers[s]] ** 3
                      for s, count in self.composition.items()) / n
        return [spheres / 0.74, 2.0 * spheres / 0.74]

    @property
    def radius(self) -> float:
        """Cluster mode: radius of the sphere random atoms are placed in, Å."""
        if self.constraints.radius is not None:
            return self.constraints.radius
        n = sum(self.composition.values())
        return (3.0 * n * self.volume_range[1] / (4.0 * math.pi)) ** (1.0 / 3.0)


def _check_packing(cfg: SearchConfig) -> None:
    """A ConfigError when ``min_distance`` cannot fit the atoms into the volume at all:
    spheres of diameter min_distance cannot fill more than :data:`MAX_PACKING` of it."""
    n = sum(cfg.composition.values())
    d = cfg.min_distance
    sphere = 4.0 / 3.0 * math.pi * (d / 2.0) ** 3
    if cfg.mode == "cluster":  # centres within radius: spheres within radius + d/2
        volume = 4.0 / 3.0 * math.pi * (cfg.radius + d / 2.0) ** 3
        room = "constraints.radius" if cfg.constraints.radius is not None else \
            "constraints.volume_per_atom"
        where = f"a sphere of radius {cfg.radius:.3g} Å"
    else:
        volume = n * cfg.volume_range[1]
        room, where = "constraints.volume_per_atom", f"{volume:.4g} Å^3"
    if n * sphere > MAX_PACKING * volume:
        key = "constraints.min_distance"
        raise ConfigError(
            f"{key}: got {d:.3g} Å; {n} atoms that far apart do not fit in {where} (they "
            f"would fill {n * sphere / volume:.2f} of it, the densest packing fills "
            f"{MAX_PACKING:.2f}); lower {key} or raise {room}", field=key)


def search_config_from_dict(raw: Mapping[str, Any], source: str = "<dict>",
                            base_dir: str | os.PathLike | None = None) -> SearchConfig:
    """Validate a plain dict into a :class:`SearchConfig`; ``models`` are made absolute
    against ``base_dir`` (default: the working directory)."""
    try:
        cfg = build(SearchConfig, dict(raw))
    except ConfigError as err:
        raise ConfigError(err.message, field=err.field, source=source) from None
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    cfg.models = [os.path.normpath(base / os.path.expanduser(p)) for p in cfg.models]
    return cfg


def load_search_config(path: str | os.PathLike) -> SearchConfig:
    """Read (``yaml.safe_load``) and validate a SEARCH.yaml; models are relative to it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"search config {path} does not exist", source=str(path))
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"not valid YAML: {err}", source=str(path)) from None
    if not isinstance(raw, Mapping):
        raise ConfigError("expected a mapping of search settings at the top level",
                          source=str(path))
    return search_config_from_dict(raw, str(path), path.resolve().parent)
