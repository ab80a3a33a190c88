"""The ``model.long_range`` section: interactions beyond the cutoff (electrostatics of
latent charges, a D3 dispersion baseline) and the builder keywords its fields become."""

from dataclasses import dataclass
from typing import Literal

from mlip_gnn.defaults import ARCHITECTURE
from mlip_gnn.utils.schema import ConfigError, Section, setting

__all__ = ["LongRangeConfig", "LONG_RANGE_ARGUMENTS", "check_charge_labels"]


@dataclass(kw_only=True)
class LongRangeConfig(Section):
    """Interactions beyond the cutoff (off by default: the model is then strictly local)."""

    electrostatics: Literal["none", "latent"] = setting(
        ARCHITECTURE["long_range"], "latent: each atom gets a charge from its features, and "
        "the Coulomb energy of these Gaussian charges (Ewald/PME in periodic cells, a direct "
        "sum in open ones; the frame's total charge from data.keys.charge) joins the energy"
    )
    smearing: float = setting(
        ARCHITECTURE["lr_smearing"], "width σ of the Gaussian charges' pair kernel "
        "erf(r/(√2σ))/r, Å", gt=0
    )
    species_features: bool = setting(
        ARCHITECTURE["lr_species"], "the charge heads see each atom's species embedding "
        "beside its last-layer features, so an atom with no neighbour within the cutoff (a "
        "separated ion) still gets a charge of its own species; false: the last layer's "
        "features alone (models stored before this setting)")
    # ewald: exact (small and medium cells); pme: particle-mesh Ewald, N log N (large cells)
    kspace: Literal["ewald", "pme"] = setting(ARCHITECTURE["lr_kspace"], "periodic sum")
    wavelength: float = setting(
        ARCHITECTURE["lr_wavelength"], "k-space resolution, Å: ewald's shortest wavelength "
        "or pme's nominal mesh spacing; 0: smearing/2 (ewald), 0.75 smearing (pme)", ge=0
    )
    dispersion: Literal["none", "d3bj"] = setting(
        ARCHITECTURE["dispersion"], "d3bj: Grimme's D3 with Becke-Johnson damping (two-body) "
        "as a fixed baseline; the network learns the rest")
    functional: str = setting(ARCHITECTURE["d3_functional"], "functional of the D3 parameters")


#: model.long_range's fields → the builder's keywords
LONG_RANGE_ARGUMENTS = {"dispersion": "dispersion", "functional": "d3_functional",
                        "electrostatics": "long_range", "smearing": "lr_smearing",
                        "kspace": "lr_kspace", "wavelength": "lr_wavelength",
                        "species_features": "lr_species"}


def check_charge_labels(loss, electrostatics: str, labels: str | None) -> None:
    """A positive ``loss.charges_weight`` (or a stage's) needs latent charges to fit and
    ``data.keys.charges`` to name the labels."""
    weights = [loss.charges_weight] + [stage.charges_weight for stage in loss.stages]
    if not any(weights):
        return
    if electrostatics != "latent":
        raise ConfigError(
            "loss.charges_weight (or a stage's) > 0 but model.long_range.electrostatics is "
            f"{electrostatics!r}: only a latent-charge model predicts charges; set "
            "model.long_range.electrostatics: latent", field="loss.charges_weight")
    if labels is None:
        raise ConfigError(
            "loss.charges_weight > 0 but data.keys.charges is null; name the per-atom array "
            "of charge labels (e.g. data.keys.charges: xtb_charges)",
            field="loss.charges_weight")
