// pair_style mlip_gnn: a model written by `mlip-gnn export` as a LAMMPS pair style.
//
//   pair_style mlip_gnn [device auto|cpu|cuda] [charge Q]
//   pair_coeff * * model.pt Cu O      (one element symbol per atom type)
//
// A model with a long-range term (model.long_range: latent charges and their Coulomb sum)
// runs on one MPI rank: its local atoms are then every atom, and the model gets their
// positions, the box (periodic in all three directions or in none) and the total charge Q
// (e, default 0) besides the graph; the forces it returns beyond the pair forces act on the
// local atoms and their virial is added to the global one.
//
// Domain decomposition with an L-layer message-passing model (cutoff r_max): the energy of
// an atom depends on atoms up to L·r_max away (L hops along pairs closer than r_max). Each
// rank holds ghost atoms out to L·r_max + skin (the communication cutoff is raised to that)
// with full neighbour lists for local *and* ghost atoms (cutoff r_max + skin). The model
// runs on the graph of atoms up to L hops from a local atom, where atoms up to L - 1 hops
// receive all their edges: an atom k hops away enters the local energies only through its
// features of layers <= L - k, and those are exact (see build_graph). Only the energies of
// local atoms are summed. Forces are -dE/dx for local and ghost atoms (autograd through the
// edge vectors); those on ghosts are sent back to their owners (newton on), and the virial
// is sum_k x_k ⊗ f_k over local and ghost atoms (virial_fdotr_compute).
#ifndef MLIP_GNN_PAIR_MLIP_GNN_H
#define MLIP_GNN_PAIR_MLIP_GNN_H

#include "pair.h"

#include <torch/script.h>

#include <cstdint>
#include <string>
#include <vector>

namespace LAMMPS_NS {

class PairMlipGnn : public Pair {
 public:
  explicit PairMlipGnn(class LAMMPS *);
  ~PairMlipGnn() override;

  void compute(int eflag, int vflag) override;
  void settings(int narg, char **arg) override;
  void coeff(int narg, char **arg) override;
  void init_style() override;
  double init_one(int i, int j) override;

 private:
  void allocate();
  void load_model(const std::string &path);
  void build_graph();
  void apply_edge_forces(const torch::Tensor &edge_forces);

  void add_long_range(const c10::Dict<c10::IValue, c10::IValue> &out, bool global_virial);
  torch::Tensor box_rows() const;

  std::string device_request_ = "auto";
  bool long_range_ = false;   // the model has a Coulomb sum over every atom
  double total_charge_ = 0.0;  // e, `pair_style mlip_gnn charge Q`
  torch::Device device_ = torch::kCPU;
  torch::jit::Module model_;
  bool model_loaded_ = false;
  bool graph_reported_ = false;  // the first step's graph size is logged once per run setup

  // read from the export (attributes of the scripted module)
  std::vector<std::string> model_symbols_;
  std::vector<int64_t> model_atomic_numbers_;
  double r_max_ = 0.0;              // Å
  int num_layers_ = 0;
  double interaction_range_ = 0.0;  // Å, num_layers × r_max
  std::string pair_method_;
  std::string model_dtype_;

  std::vector<int64_t> type_atomic_number_;  // [ntypes + 1], index 0 unused

  // the graph of one step: nodes are LAMMPS atom indices (local atoms first, as 0..nlocal-1),
  // edge e goes from sender to receiver (atom indices), vector x_receiver - x_sender
  std::vector<int> nodes_;
  std::vector<int> node_of_;  // [nlocal + nghost] atom index → node, -1 if not in the graph
  std::vector<int> senders_, receivers_;
  std::vector<double> edge_vectors_;  // [3 · edges], Å
};

// the factory the plugin registers (mlip_gnn_plugin.cpp stays free of torch headers)
Pair *mlip_gnn_create_pair(LAMMPS *lmp);

}  // namespace LAMMPS_NS

#endif
