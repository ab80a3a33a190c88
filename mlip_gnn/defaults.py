"""Defaults that more than one layer states, in one place (standard library only).

The config schema (``config``), the model builder (``model``) and the learning-rate
schedule (``train``) take their defaults from here, so a default cannot differ between a
model built from a YAML config and one built in Python.
"""

from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["R_MAX", "DTYPE", "ARCHITECTURE", "UNSTORED_ARCHITECTURE", "PLATEAU_FACTOR",
           "PLATEAU_PATIENCE"]

R_MAX = 5.0  # cutoff radius, Å
DTYPE = "float32"  # model precision
#: architecture keywords of :func:`mlip_gnn.model.build_model` (``model:`` in the config)
ARCHITECTURE: Mapping[str, Any] = MappingProxyType({
    "num_layers": 2, "num_channels": 32, "max_ell": 2, "hidden_ell": 1, "correlation": 2,
    "num_bessel": 8, "envelope_p": 6, "radial_mlp": (64, 64), "zbl": False,
    "spin": "none", "magmom_scale": 2.0, "init_scheme": "stable",
    # model.long_range in the config: latent-charge electrostatics (mlip_gnn.nn.long_range)
    "long_range": "none", "lr_smearing": 1.0, "lr_kspace": "ewald", "lr_wavelength": 0.0,
    "lr_species": True,
    "dispersion": "none", "d3_functional": "pbe",
})
#: architecture keywords whose default changed after models were stored without them:
#: the value such a stored model was built with (read when a stored model spec is loaded)
UNSTORED_ARCHITECTURE: Mapping[str, Any] = MappingProxyType({"init_scheme": "legacy",
                                                              "lr_species": False})
PLATEAU_FACTOR = 0.8  # lr multiplier when the validation metric stalls
PLATEAU_PATIENCE = 20  # validation rounds without improvement before the lr drops
