#!/bin/bash
# Shared body of the SLURM batch scripts (slurm_single_node.sh, slurm_multi_node.sh):
# starts one training process per task with srun, forwards SLURM's warning signal to them
# and requeues the job when they stopped because of it.
#
# 120 s before the time limit SLURM sends SIGUSR1 to the batch shell (B:), which passes
# it on to the training processes; they write a checkpoint after the current step and
# exit 0, and the job requeues itself. The requeued job runs the same command, which
# continues from output.run_dir (same config => automatic resume). The same happens on
# preemption when the cluster preempts with a signal.
set -euo pipefail
CONFIG=${1:?usage: sbatch scripts/slurm_single_node.sh CONFIG.yaml [--set KEY=VALUE ...]}
shift

export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
# rank and world size come from SLURM_PROCID / SLURM_NTASKS; rank 0 listens on the
# first node of the allocation, on a port derived from the job id (sed reads the whole
# list: `head -n 1` would close the pipe early, and pipefail turns SIGPIPE into an exit)
MASTER_ADDR=${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | sed -n 1p)}
export MASTER_ADDR
export MASTER_PORT=${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}
# export NCCL_SOCKET_IFNAME=ib0      # if NCCL picks the wrong network interface

signalled=0
forward_signal() {
    signalled=1
    echo "$(date): $1 received, asking the training processes to checkpoint and stop"
    kill -s "$1" "$srun_pid" 2>/dev/null || true  # srun passes it to every task
}
trap 'forward_signal USR1' USR1
trap 'forward_signal TERM' TERM

# --gpu-bind=none: every task sees all GPUs of the node and picks cuda:SLURM_LOCALID
srun --kill-on-bad-exit=1 --gpu-bind=none \
    python -m mlip_gnn train "$CONFIG" "$@" &
srun_pid=$!

status=0
while true; do
    wait "$srun_pid" && status=0 || status=$?
    # wait returns early (status > 128) when a trapped signal arrives: wait again
    if ! kill -0 "$srun_pid" 2>/dev/null; then
        break
    fi
done

if [[ $signalled == 1 && $status == 0 ]]; then
    echo "$(date): checkpoint written; requeueing job $SLURM_JOB_ID to continue"
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
