"""Typed builder: hyperparameters and dataset statistics → :class:`Potential`."""

from typing import Dict, List, Mapping

import torch

from mlip_gnn.defaults import ARCHITECTURE as _D
from mlip_gnn.defaults import DTYPE, R_MAX
from mlip_gnn.model.potential import Potential
from mlip_gnn.nn import DISPERSION, ELECTROSTATICS, INIT_SCHEMES, KSPACE_METHODS, SPIN_MODES

__all__ = ["build_model", "DTYPES"]

DTYPES: Dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


def build_model(*, species: List[int], r_max: float = R_MAX,
                e0s: Mapping[int, float] | None = None, avg_num_neighbors: float = 10.0,
                scale: float = 1.0, shift: float = 0.0, num_layers: int = _D["num_layers"],
                num_channels: int = _D["num_channels"], max_ell: int = _D["max_ell"],
                hidden_ell: int = _D["hidden_ell"], correlation: int = _D["correlation"],
                num_bessel: int = _D["num_bessel"], envelope_p: int = _D["envelope_p"],
                radial_mlp: List[int] | None = None, zbl: bool = _D["zbl"],
                spin: str = _D["spin"], magmom_scale: float = _D["magmom_scale"],
                long_range: str = _D["long_range"], lr_smearing: float = _D["lr_smearing"],
                lr_kspace: str = _D["lr_kspace"], lr_wavelength: float = _D["lr_wavelength"],
                lr_species: bool = _D["lr_species"],
                dispersion: str = _D["dispersion"], d3_functional: str = _D["d3_functional"],
                dtype: str = DTYPE, seed: int | None = None,
                init_scheme: str = _D["init_scheme"]) -> Potential:
    """Build a potential for the given species (atomic numbers, any order).

    ``e0s`` maps atomic number → isolated-atom reference energy (eV, default 0);
    ``dtype`` is ``"float32"`` or ``"float64"``; ``spin`` is ``"none"`` or ``"collinear"``
    (per-atom moments as input, :mod:`mlip_gnn.nn.spin`; ``magmom_scale`` μB normalises
    them); ``long_range`` is ``"none"`` or ``"latent"`` (latent charges with a
    Gaussian-smeared Coulomb energy, :mod:`mlip_gnn.nn.long_range`: width ``lr_smearing``
    Å, periodic sums by ``lr_kspace`` "ewald" or "pme" at resolution ``lr_wavelength`` Å,
    0 for the method's default; ``lr_species``: the charge heads also see the species
    embedding); ``dispersion`` is ``"none"`` or ``"d3bj"`` (a fixed D3
    baseline with Becke–Johnson damping for ``d3_functional``, :mod:`mlip_gnn.nn.dispersion`);
    ``init_scheme`` names the start scale (:mod:`mlip_gnn.nn.init_scheme`; models stored
    without one were built ``"legacy"``).
    The global default dtype is not touched:
    the model is built and then cast. ``seed`` makes the initial weights reproducible.
    All arguments are plain Python values, so they can be stored in a checkpoint and the
    model rebuilt from it.
    """
    species = sorted(int(z) for z in species)
    if not species:
        raise ValueError("build_model: 'species' must list at least one atomic number")
    if dtype not in DTYPES:
        raise ValueError(f"build_model: dtype {dtype!r} not in {sorted(DTYPES)}")
    if not 0 <= hidden_ell <= max_ell:
        raise ValueError(f"build_model: hidden_ell={hidden_ell} must be in 0..max_ell "
                         f"({max_ell})")
    if correlation < 1:
        raise ValueError(f"build_model: correlation={correlation} must be >= 1")
    if avg_num_neighbors <= 0.0:
        raise ValueError(f"build_model: avg_num_neighbors={avg_num_neighbors} must be > 0")
    if spin not in SPIN_MODES:
        raise ValueError(f"build_model: spin {spin!r} not in {sorted(SPIN_MODES)}")
    if not magmom_scale > 0.0:
        raise ValueError(f"build_model: magmom_scale={magmom_scale} must be > 0 (μB)")
    if long_range not in ELECTROSTATICS:
        raise ValueError(f"build_model: long_range {long_range!r} not in "
                         f"{list(ELECTROSTATICS)}")
    if lr_kspace not in KSPACE_METHODS:
        raise ValueError(f"build_model: lr_kspace {lr_kspace!r} not in {list(KSPACE_METHODS)}")
    if not lr_smearing > 0.0 or lr_wavelength < 0.0:
        raise ValueError(f"build_model: lr_smearing={lr_smearing} must be > 0 and "
                         f"lr_wavelength={lr_wavelength} >= 0 (Å)")
    if dispersion not in DISPERSION:
        raise ValueError(f"build_model: dispersion {dispersion!r} not in {list(DISPERSION)}")
    if init_scheme not in INIT_SCHEMES:
        raise ValueError(f"build_model: init_scheme {init_scheme!r} not in "
                         f"{sorted(INIT_SCHEMES)}")
    e0s = dict(e0s or {})
    e0_list = [float(e0s.get(z, 0.0)) for z in species]
    generator_state = None
    if seed is not None:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
    try:
        model = Potential(species=species, r_max=r_max, e0s=e0_list, scale=scale,
                          shift=shift, avg_num_neighbors=avg_num_neighbors,
                          num_layers=num_layers, num_channels=num_channels,
                          max_ell=max_ell, hidden_ell=hidden_ell, correlation=correlation,
                          num_bessel=num_bessel, envelope_p=envelope_p,
                          radial_mlp=list(_D["radial_mlp"] if radial_mlp is None
                                          else radial_mlp), zbl=zbl,
                          spin=spin, magmom_scale=magmom_scale, long_range=long_range,
                          lr_smearing=lr_smearing, lr_kspace=lr_kspace,
                          lr_wavelength=lr_wavelength, lr_species=bool(lr_species),
                          dispersion=dispersion,
                          d3_functional=d3_functional, init_scheme=init_scheme)
    finally:
        if generator_state is not None:
            torch.random.set_rng_state(generator_state)
    return model.to(DTYPES[dtype])
