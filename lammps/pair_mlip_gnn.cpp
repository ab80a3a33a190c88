// pair_style mlip_gnn: see pair_mlip_gnn.h for the scheme and its proof sketch.
#include "pair_mlip_gnn.h"

#include "atom.h"
#include "comm.h"
#include "domain.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

using namespace LAMMPS_NS;

Pair *LAMMPS_NS::mlip_gnn_create_pair(LAMMPS *lmp)
{
  return new PairMlipGnn(lmp);
}

namespace {

constexpr int CENTROID_NOT_AVAILABLE = 2;  // Pair::centroidstressflag, "not implemented"

const char *const EXPORT_HINT =
    "give a file written by `mlip-gnn export RUN_DIR model.pt` (a training checkpoint such as "
    "best.pt is not one)";

// The GPU of this rank: the launcher's node-local rank (MPICH/Hydra, Open MPI, SLURM),
// else the global rank, modulo the GPUs visible, so that ranks on a node share them evenly.
int local_gpu(int world_rank, int num_gpus)
{
  for (const char *name : {"MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"}) {
    const char *value = std::getenv(name);
    if (value != nullptr && *value != '\0') return std::atoi(value) % num_gpus;
  }
  return world_rank % num_gpus;
}

// the first sentence of an exception's message (torch appends pages of context)
std::string first_line(const std::string &text)
{
  const size_t end = std::min({text.find('\n'), text.find(". "), static_cast<size_t>(300)});
  return text.substr(0, end);
}

}  // namespace

PairMlipGnn::PairMlipGnn(LAMMPS *lmp) : Pair(lmp)
{
  if (std::strcmp(lmp->version, MLIP_GNN_LAMMPS_VERSION) != 0)
    error->all(FLERR,
               "pair style mlip_gnn was compiled for LAMMPS {} but runs in LAMMPS {}: a plugin "
               "depends on one release's class layout; rebuild it with `make lammps`",
               MLIP_GNN_LAMMPS_VERSION, lmp->version);
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  ghostneigh = 1;  // neighbour lists of ghost atoms: messages reach local atoms through them
  centroidstressflag = CENTROID_NOT_AVAILABLE;
}

PairMlipGnn::~PairMlipGnn()
{
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

void PairMlipGnn::allocate()
{
  allocated = 1;
  const int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  memory->create(cutghost, n, n, "pair:cutghost");
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) setflag[i][j] = 0;
}

// pair_style mlip_gnn [device auto|cpu|cuda] [charge Q]
void PairMlipGnn::settings(int narg, char **arg)
{
  if (narg % 2 != 0)
    error->all(FLERR, "Illegal pair_style mlip_gnn arguments: use `pair_style mlip_gnn "
                      "[device auto|cpu|cuda] [charge Q]`");
  for (int k = 0; k < narg; k += 2) {
    if (std::strcmp(arg[k], "device") == 0) {
      device_request_ = arg[k + 1];
      if (device_request_ != "auto" && device_request_ != "cpu" && device_request_ != "cuda")
        error->all(FLERR, "pair_style mlip_gnn device: got '{}'; choose auto, cpu or cuda",
                   device_request_);
    } else if (std::strcmp(arg[k], "charge") == 0) {
      total_charge_ = utils::numeric(FLERR, arg[k + 1], false, lmp);
    } else {
      error->all(FLERR, "Illegal pair_style mlip_gnn keyword '{}': use `pair_style mlip_gnn "
                        "[device auto|cpu|cuda] [charge Q]`", arg[k]);
    }
  }
}

void PairMlipGnn::load_model(const std::string &path)
{
  const bool cuda = torch::cuda::is_available();
  if (device_request_ == "cuda" && !cuda)
    error->all(FLERR, "pair_style mlip_gnn device cuda: this torch sees no CUDA device");
  if (device_request_ == "cuda" || (device_request_ == "auto" && cuda))
    device_ = torch::Device(torch::kCUDA,
                            local_gpu(comm->me, static_cast<int>(torch::cuda::device_count())));
  else
    device_ = torch::kCPU;

  try {
    model_ = torch::jit::load(path, device_);
  } catch (const std::exception &exc) {
    error->all(FLERR, "pair_coeff mlip_gnn: cannot load '{}' as a TorchScript model ({}); {}",
               path, first_line(exc.what()), EXPORT_HINT);
  }
  model_.eval();
  for (const char *name : {"symbols", "atomic_numbers", "r_max", "model_dtype"})
    if (!model_.hasattr(name))
      error->all(FLERR, "pair_coeff mlip_gnn: '{}' is a TorchScript file but not an mlip_gnn "
                        "export (it has no attribute '{}'); {}", path, name, EXPORT_HINT);
  for (const char *name : {"num_layers", "interaction_range", "pair_method"})
    if (!model_.hasattr(name))
      error->all(FLERR, "pair_coeff mlip_gnn: '{}' was exported by an mlip_gnn without the "
                        "LAMMPS interface (no attribute '{}'); export it again with this "
                        "mlip_gnn: `mlip-gnn export RUN_DIR model.pt`", path, name);

  model_symbols_.clear();
  for (const auto &symbol : model_.attr("symbols").toListRef())
    model_symbols_.push_back(symbol.toStringRef());
  model_atomic_numbers_.clear();
  for (const auto &z : model_.attr("atomic_numbers").toListRef())
    model_atomic_numbers_.push_back(z.toInt());
  r_max_ = model_.attr("r_max").toDouble();
  num_layers_ = static_cast<int>(model_.attr("num_layers").toInt());
  interaction_range_ = model_.attr("interaction_range").toDouble();
  pair_method_ = model_.attr("pair_method").toStringRef();
  model_dtype_ = model_.attr("model_dtype").toStringRef();
  long_range_ = model_.hasattr("long_range") &&
                model_.attr("long_range").toStringRef() != "none";
  if (!model_.find_method(pair_method_))
    error->all(FLERR, "pair_coeff mlip_gnn: '{}' names method '{}' but has none; export it "
                      "again with this mlip_gnn", path, pair_method_);
  model_loaded_ = true;
  if (comm->me == 0)
    utils::logmesg(lmp, "mlip_gnn: {} on {} ({}), r_max {} Å, {} layers, ghost atoms out to "
                        "{} Å + skin, {} torch threads per rank\n",
                   path, device_.str(), model_dtype_, r_max_, num_layers_, interaction_range_,
                   at::get_num_threads());
}

// pair_coeff * * model.pt Sym1 Sym2 ... (one element per atom type)
void PairMlipGnn::coeff(int narg, char **arg)
{
  if (!allocated) allocate();
  const int ntypes = atom->ntypes;
  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff mlip_gnn: expected `pair_coeff * * model.pt` and one element "
                      "symbol for each of the {} atom types; got {} arguments", ntypes, narg);
  if (std::strcmp(arg[0], "*") != 0 || std::strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff mlip_gnn: the types must be `* *`");
  load_model(arg[2]);

  type_atomic_number_.assign(ntypes + 1, 0);
  for (int t = 1; t <= ntypes; ++t) {
    const std::string symbol = arg[2 + t];
    const auto found = std::find(model_symbols_.begin(), model_symbols_.end(), symbol);
    if (found == model_symbols_.end())
      error->all(FLERR, "pair_coeff mlip_gnn: element '{}' of atom type {} is not in the model, "
                        "which knows {}; give one of these symbols for each atom type",
                 symbol, t, utils::join_words(model_symbols_, " "));
    type_atomic_number_[t] = model_atomic_numbers_[found - model_symbols_.begin()];
  }
  for (int i = 1; i <= ntypes; ++i)
    for (int j = i; j <= ntypes; ++j) setflag[i][j] = 1;
}

void PairMlipGnn::init_style()
{
  if (force->newton_pair == 0)
    error->all(FLERR, "pair style mlip_gnn requires `newton on` (the default): forces on ghost "
                      "atoms are sent back to the ranks that own them; remove `newton off`");
  if (std::strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair style mlip_gnn requires `units metal` (Å, eV), not units {}",
               update->unit_style);
  if (comm->mode != Comm::SINGLE)
    error->all(FLERR, "pair style mlip_gnn requires `comm_modify mode single`");
  if (!model_loaded_) error->all(FLERR, "pair style mlip_gnn: no pair_coeff * * model.pt given");
  if (long_range_ && comm->nprocs > 1)
    error->all(FLERR, "pair style mlip_gnn: this model has a long-range term (latent charges "
                      "and their Coulomb sum over every atom), which runs on one MPI rank only; "
                      "run it with one rank (`mpirun -np 1` or without mpirun)");
  if (long_range_ && domain->nonperiodic && (domain->xperiodic || domain->yperiodic ||
                                             domain->zperiodic))
    error->all(FLERR, "pair style mlip_gnn: a long-range model needs a box periodic in all "
                      "three directions or in none (boundary p p p or f f f / s s s)");

  neighbor->add_request(this, NeighConst::REQ_FULL | NeighConst::REQ_GHOST);
  graph_reported_ = false;

  // ghost atoms out to num_layers × r_max from every local atom, for a whole neighbour-list
  // lifetime (atoms move up to skin/2 each between rebuilds)
  const double halo = interaction_range_ + neighbor->skin;
  if (comm->cutghostuser < halo) {
    comm->cutghostuser = halo;
    if (comm->me == 0)
      utils::logmesg(lmp, "mlip_gnn: communication cutoff raised to {} Å ({} layers × r_max "
                          "{} Å + skin {} Å)\n", halo, num_layers_, r_max_, neighbor->skin);
  }
}

double PairMlipGnn::init_one(int i, int j)
{
  cutghost[i][j] = cutghost[j][i] = r_max_;  // neighbour lists of ghosts: r_max + skin
  return r_max_;
}

// The graph the local energies need, found breadth-first from the local atoms along pairs
// closer than r_max: an atom k hops away enters the energies of local atoms only through
// its features of layers t <= L - k. So atoms up to L hops are nodes, and only atoms up to
// L - 1 hops receive edges (all of their neighbours, which the ghost shell holds: they lie
// within (L - 1)·r_max of a local atom); an atom L hops away needs only its species.
void PairMlipGnn::build_graph()
{
  const double cutoff_sq = r_max_ * r_max_;
  double **x = atom->x;
  const int nlocal = atom->nlocal;
  const int nall = nlocal + atom->nghost;
  node_of_.assign(nall, -1);
  nodes_.clear();
  for (int i = 0; i < nlocal; ++i) {
    node_of_[i] = i;
    nodes_.push_back(i);
  }
  senders_.clear();
  receivers_.clear();
  edge_vectors_.clear();
  size_t begin = 0;  // nodes_[begin, end) are the atoms `hops` away
  for (int hops = 0; hops < num_layers_; ++hops) {
    const size_t end = nodes_.size();
    for (size_t n = begin; n < end; ++n) {
      const int i = nodes_[n];
      const int *neighbours = list->firstneigh[i];
      for (int jj = 0; jj < list->numneigh[i]; ++jj) {
        const int j = neighbours[jj] & NEIGHMASK;
        const double dx = x[i][0] - x[j][0];
        const double dy = x[i][1] - x[j][1];
        const double dz = x[i][2] - x[j][2];
        if (dx * dx + dy * dy + dz * dz >= cutoff_sq) continue;
        if (node_of_[j] < 0) {
          node_of_[j] = static_cast<int>(nodes_.size());
          nodes_.push_back(j);
        }
        senders_.push_back(j);
        receivers_.push_back(i);
        edge_vectors_.insert(edge_vectors_.end(), {dx, dy, dz});
      }
    }
    begin = end;
  }
}

// g_e = dE/dr_e with r_e = x_receiver - x_sender: a force +g on the sender and -g on the
// receiver; the per-atom virial -r_e ⊗ g_e is shared equally by the two atoms.
void PairMlipGnn::apply_edge_forces(const torch::Tensor &edge_forces)
{
  double **f = atom->f;
  const auto g = edge_forces.accessor<double, 2>();
  const int64_t num_edges = static_cast<int64_t>(senders_.size());
  for (int64_t e = 0; e < num_edges; ++e) {
    const int64_t s = senders_[e], r = receivers_[e];
    for (int a = 0; a < 3; ++a) {
      f[s][a] += g[e][a];
      f[r][a] -= g[e][a];
    }
    if (vflag_atom) {
      const double *v = &edge_vectors_[3 * e];
      const double w[6] = {-v[0] * g[e][0], -v[1] * g[e][1], -v[2] * g[e][2],
                           -v[0] * g[e][1], -v[0] * g[e][2], -v[1] * g[e][2]};
      for (int k = 0; k < 6; ++k) {
        vatom[s][k] += 0.5 * w[k];
        vatom[r][k] += 0.5 * w[k];
      }
    }
  }
}

void PairMlipGnn::compute(int eflag, int vflag)
{
  ev_init(eflag, vflag);
  const int nlocal = atom->nlocal;
  if (nlocal == 0) return;  // no local energy: nothing on this rank depends on the model

  build_graph();
  const int64_t num_edges = static_cast<int64_t>(senders_.size());
  const int64_t num_nodes = static_cast<int64_t>(nodes_.size());
  if (!graph_reported_ && comm->me == 0)
    utils::logmesg(lmp, "mlip_gnn: rank 0 evaluates {} atoms ({} local) and {} edges\n",
                   num_nodes, nlocal, num_edges);
  graph_reported_ = true;
  const auto cpu_long = torch::TensorOptions().dtype(torch::kInt64);
  torch::Tensor edge_index = torch::empty({2, num_edges}, cpu_long);
  int64_t *index = edge_index.data_ptr<int64_t>();
  for (int64_t e = 0; e < num_edges; ++e) {
    index[e] = node_of_[senders_[e]];
    index[num_edges + e] = node_of_[receivers_[e]];
  }
  torch::Tensor vectors = torch::from_blob(edge_vectors_.data(), {num_edges, 3},
                                           torch::TensorOptions().dtype(torch::kFloat64));
  torch::Tensor atomic_numbers = torch::empty({num_nodes}, cpu_long);
  int64_t *z = atomic_numbers.data_ptr<int64_t>();
  for (int64_t n = 0; n < num_nodes; ++n) z[n] = type_atomic_number_[atom->type[nodes_[n]]];

  std::vector<c10::IValue> inputs = {vectors.to(device_), atomic_numbers.to(device_),
                                     edge_index.to(device_),
                                     c10::IValue(static_cast<int64_t>(nlocal))};
  if (long_range_) {
    if (vflag_atom)
      error->one(FLERR, "pair style mlip_gnn: per-atom virials (compute stress/atom) are not "
                        "available for a long-range model");
    torch::Tensor positions = torch::empty({nlocal, 3}, torch::kFloat64);
    auto p = positions.accessor<double, 2>();
    for (int i = 0; i < nlocal; ++i)
      for (int a = 0; a < 3; ++a) p[i][a] = atom->x[i][a];
    inputs.push_back(positions.to(device_));
    inputs.push_back(box_rows().to(device_));
    inputs.push_back(torch::tensor(total_charge_, torch::kFloat64).to(device_));
  }
  c10::IValue result;
  try {
    result = model_.get_method(pair_method_)(inputs);
  } catch (const std::exception &exc) {
    error->one(FLERR, "pair style mlip_gnn: the model failed: {}", first_line(exc.what()));
  }
  const auto out = result.toGenericDict();
  const auto as_cpu_double = [](const c10::IValue &value) {
    return value.toTensor().detach().to(torch::kCPU, torch::kFloat64).contiguous();
  };
  apply_edge_forces(as_cpu_double(out.at("edge_forces")));
  if (eflag_global) eng_vdwl += as_cpu_double(out.at("energy")).item<double>();
  if (eflag_atom) {
    const torch::Tensor atomic = as_cpu_double(out.at("atomic_energies"));
    const double *e = atomic.data_ptr<double>();
    for (int i = 0; i < nlocal; ++i) eatom[i] += e[i];
  }
  // a global virial is wanted: LAMMPS clears vflag_global when it comes from F·r, and
  // virial_fdotr_compute clears vflag_fdotr
  const bool global_virial = vflag_global || vflag_fdotr;
  if (vflag_fdotr) virial_fdotr_compute();  // pair forces only: those of local and ghost atoms
  if (long_range_) add_long_range(out, global_virial);
}

// The box's lattice vectors as rows [3, 3] Å, or zeros when no direction is periodic.
torch::Tensor PairMlipGnn::box_rows() const
{
  torch::Tensor cell = torch::zeros({3, 3}, torch::kFloat64);
  if (domain->nonperiodic) return cell;
  auto c = cell.accessor<double, 2>();
  c[0][0] = domain->xprd;
  c[1][0] = domain->xy;
  c[1][1] = domain->yprd;
  c[2][0] = domain->xz;
  c[2][1] = domain->yz;
  c[2][2] = domain->zprd;
  return cell;
}

// The forces of the Coulomb sum that pair vectors do not carry (on local atoms) and their
// virial, which virial_fdotr_compute (a sum over images of pair terms) cannot give.
void PairMlipGnn::add_long_range(const c10::Dict<c10::IValue, c10::IValue> &out,
                                 bool global_virial)
{
  const auto as_cpu_double = [](const c10::IValue &value) {
    return value.toTensor().detach().to(torch::kCPU, torch::kFloat64).contiguous();
  };
  const torch::Tensor direct = as_cpu_double(out.at("forces"));
  const auto d = direct.accessor<double, 2>();
  double **f = atom->f;
  for (int i = 0; i < atom->nlocal; ++i)
    for (int a = 0; a < 3; ++a) f[i][a] += d[i][a];
  if (global_virial) {
    const torch::Tensor w = as_cpu_double(out.at("lr_virial"));
    const auto v = w.accessor<double, 2>();
    virial[0] += v[0][0];
    virial[1] += v[1][1];
    virial[2] += v[2][2];
    virial[3] += v[0][1];
    virial[4] += v[0][2];
    virial[5] += v[1][2];
  }
}
