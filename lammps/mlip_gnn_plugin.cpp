// Registers pair_style mlip_gnn with LAMMPS when the shared object is loaded (by
// `plugin load`, or at start-up from a directory in LAMMPS_PLUGIN_PATH).
#include "lammpsplugin.h"

namespace LAMMPS_NS {
class LAMMPS;
class Pair;
Pair *mlip_gnn_create_pair(LAMMPS *lmp);  // pair_mlip_gnn.cpp
}  // namespace LAMMPS_NS

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  plugin.version = MLIP_GNN_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "mlip_gnn";
  plugin.info = "mlip_gnn pair style: exported mlip_gnn models (TorchScript)";
  plugin.author = "mlip_gnn developers";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &LAMMPS_NS::mlip_gnn_create_pair;
  plugin.handle = handle;
  (*(lammpsplugin_regfunc) regfunc)(&plugin, lmp);
}
