"""Building blocks of the equivariant potential (built on e3nn)."""

from mlip_gnn.nn.blocks import GatedUpdate, Interaction, ScalarReadout
from mlip_gnn.nn.init_scheme import INIT_SCHEMES, InitScheme, init_scheme
from mlip_gnn.nn.irreps import natural_irreps
from mlip_gnn.nn.dispersion import DISPERSION, D3Dispersion
from mlip_gnn.nn.long_range import ELECTROSTATICS, KSPACE_METHODS, LatentCoulomb
from mlip_gnn.nn.radial import BesselBasis, PolynomialEnvelope
from mlip_gnn.nn.spin import EDGE_SPIN_CHANNELS, SPIN_MODES, CollinearSpin, spin_module
from mlip_gnn.nn.symmetric import SymmetricContraction
from mlip_gnn.nn.zbl import ZBLRepulsion

__all__ = ["GatedUpdate", "Interaction", "ScalarReadout", "SymmetricContraction",
           "natural_irreps", "BesselBasis", "PolynomialEnvelope", "ZBLRepulsion",
           "CollinearSpin", "SPIN_MODES", "EDGE_SPIN_CHANNELS", "spin_module",
           "LatentCoulomb", "ELECTROSTATICS", "KSPACE_METHODS", "D3Dispersion", "DISPERSION",
           "INIT_SCHEMES", "InitScheme", "init_scheme"]
