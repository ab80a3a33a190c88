"""Reference methods that ASE has no keyword-built calculator for, made so that
``label.calculator`` (an import path) and ``label.kwargs`` can name them.

:class:`PySCFCalculator` is Kohn–Sham DFT (or Hartree–Fock) of a molecule with PySCF: the
molecule is built from each structure's atoms, with the charge and spin given. PySCF's own
ASE calculator (``pyscf.pbc.tools.pyscf_ase.PySCF``) needs a method object made for one
molecule beforehand, which a YAML file cannot give.
"""

from __future__ import annotations

from ase.calculators.calculator import Calculator, CalculationFailed, all_changes
from ase.units import Bohr, Hartree

__all__ = ["PySCFCalculator"]


class PySCFCalculator(Calculator):
    """Energy (eV) and forces (eV/Å) of a molecule (open boundaries) from PySCF.

    ``xc``: a functional PySCF knows (``"PBE"``, ``"B3LYP"``, ``"wB97X-D"`` ...) or
    ``"HF"``; ``basis``: e.g. ``"def2-SVP"``; ``charge`` (e) and ``spin`` (2S, unpaired
    electrons): restricted for spin 0, unrestricted otherwise; ``conv_tol``: SCF energy
    tolerance (Hartree); ``max_cycle``: SCF iterations. An SCF that does not converge is
    :class:`ase.calculators.calculator.CalculationFailed` (a label failure, never learnt).
    """

    implemented_properties = ["energy", "forces"]

    def __init__(self, xc: str = "PBE", basis: str = "def2-SVP", charge: int = 0,
                 spin: int = 0, conv_tol: float = 1e-9, max_cycle: int = 100, **kwargs):
        super().__init__(**kwargs)
        self.xc, self.basis, self.charge, self.spin = xc, basis, int(charge), int(spin)
        self.conv_tol, self.max_cycle = float(conv_tol), int(max_cycle)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Run the SCF and the nuclear gradient."""
        from pyscf import dft, gto, scf

        super().calculate(atoms, properties, system_changes)
        if self.atoms.pbc.any():
            raise CalculationFailed("PySCFCalculator: molecules only (open boundaries); "
                                    "this structure is periodic")
        mol = gto.M(atom=list(zip(self.atoms.get_chemical_symbols(),
                                  self.atoms.positions.tolist())),
                    basis=self.basis, charge=self.charge, spin=self.spin, unit="Angstrom",
                    verbose=0)
        restricted = self.spin == 0
        if self.xc.upper() == "HF":
            mf = scf.RHF(mol) if restricted else scf.UHF(mol)
        else:
            mf = dft.RKS(mol) if restricted else dft.UKS(mol)
            mf.xc = self.xc
        mf.conv_tol, mf.max_cycle = self.conv_tol, self.max_cycle
        energy = mf.kernel()
        if not mf.converged:
            raise CalculationFailed(f"PySCF {self.xc}/{self.basis}: SCF not converged in "
                                    f"{self.max_cycle} cycles")
        self.results["energy"] = float(energy) * Hartree
        # always with forces: a labeller asks for both, and the SCF is the costly part
        grad = mf.nuc_grad_method()
        if hasattr(grad, "grid_response"):  # DFT: forces the exact derivative of the
            grad.grid_response = True       # energy on its moving integration grid
        gradient = grad.kernel()  # Hartree/Bohr
        self.results["forces"] = -gradient * (Hartree / Bohr)
