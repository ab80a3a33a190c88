#!/bin/bash
# Train on several nodes, one process per GPU:  sbatch scripts/slurm_multi_node.sh config.yaml
#
# 120 s before the time limit SLURM sends SIGUSR1 to this batch shell (B:), which passes
# it on to the training processes; they write a checkpoint after the current step and
# exit 0, and the job requeues itself. The requeued job runs the same command, which
# continues from output.run_dir (same config => automatic resume). The same happens on
# preemption when the cluster preempts with a signal.
#
# data.batch_size is the global batch: each of the N processes takes batch_size / N.
#SBATCH --job-name=mlip-gnn
#SBATCH --nodes=2                     # run_dir must be on a file system all nodes share
#SBATCH --ntasks-per-node=4          # = GPUs per node: one training process per GPU
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=8            # DataLoader workers + neighbour lists
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append           # the requeued job appends to the same log
#SBATCH --output=%x-%j.out

# SLURM runs a copy of this file from its spool folder: find slurm_run.sh beside the
# original (submit from the repository root, or set MLIP_GNN_SCRIPTS)
here=${MLIP_GNN_SCRIPTS:-${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}/scripts}
exec bash "$here/slurm_run.sh" "$@"
