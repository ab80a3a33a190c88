#!/bin/sh
# Where `make venv` installs torch from: prints the pip options for it (none: pip's own
# configuration) and says why on stderr. PyPI's Linux torch is the CUDA build (several GB),
# so on a machine without a GPU the CPU index is chosen, unless the user or pip says otherwise:
#   TORCH_INDEX=URL    that index (e.g. https://download.pytorch.org/whl/cu126 for CUDA 12.6)
#   TORCH_INDEX=pip    pip's own configuration
#   (unset)            pip's configuration when a GPU is visible (nvidia-smi -L lists one) or
#                      pip is configured with its own package sources (PIP_INDEX_URL,
#                      PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, or index-url, extra-index-url or
#                      find-links in a pip config file: a mirror or a local wheel folder that
#                      the machine's owner set up); otherwise TORCH_CPU_INDEX
# Usage: scripts/torch_source.sh [PYTHON]   (PYTHON runs `-m pip config list`; default python3)
set -u
python=${1:-python3}
cpu_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
if [ -n "${TORCH_INDEX:-}" ]; then
    source=$TORCH_INDEX
    why="TORCH_INDEX"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    source=pip
    why="nvidia-smi lists a GPU, so the CUDA build"
elif [ -n "${PIP_INDEX_URL:-}${PIP_EXTRA_INDEX_URL:-}${PIP_FIND_LINKS:-}" ] ||
    "$python" -m pip config list 2>/dev/null |
        grep -Eq '^[^=]*\.(index-url|extra-index-url|find-links)='; then
    source=pip
    why="no GPU visible, and pip is configured with its own package sources"
else
    source=$cpu_index
    why="no GPU visible: the CPU build"
fi
if [ "$source" = pip ]; then
    echo "torch: from pip's configuration ($why; TORCH_INDEX=URL picks an index)" >&2
else
    echo "torch: from $source ($why; TORCH_INDEX=pip uses pip's configuration)" >&2
    echo "--index-url $source"
fi
