"""Small searches with ASE's EMT for the search tests (a plain module, imported by name)."""

from mlip_gnn.search import search_config_from_dict


def cu_cluster(n=6, **changes):
    """A Cu_n cluster search: tight sphere, quick relaxations."""
    raw = {"composition": {"Cu": n}, "trials": 4, "seed": 3,
           "constraints": {"min_distance": 2.0, "radius": 3.0},
           "relax": {"fmax": 0.05, "steps": 300}}
    raw.update(changes)
    return search_config_from_dict(raw)
