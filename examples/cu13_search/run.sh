#!/usr/bin/env bash
# Cu13 structure search with the quickstart Cu potential (fcc Cu labelled by ASE's EMT).
#
#   bash examples/cu13_search/run.sh OUT_DIR [MODEL]
#
# Without MODEL it makes the quickstart data (if data/generated/ lacks it) and trains
# configs/quickstart.yaml into OUT_DIR/model for its 35 epochs (skipped when that run has
# finished: its test_metrics.json exists; a killed one resumes). Unlike `make quickstart`
# it drops the 5-minute budget, so that a loaded machine trains the same model, slower.
# Then it runs configs/search/cu13.yaml (basin hopping, 30 relaxations) into OUT_DIR:
# OUT_DIR/minima.xyz lists the distinct minima, lowest model energy first. Run from a
# clone with .venv made (make venv). Rerunning the same command resumes a killed search.
set -euo pipefail

OUT=${1:?usage: bash examples/cu13_search/run.sh OUT_DIR [MODEL]}
MODEL=${2:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/.venv/bin
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

if [ -z "$MODEL" ]; then
    DATA=$ROOT/data/generated
    [ -f "$DATA/cu_emt.xyz" ] || "$BIN/python" "$ROOT/scripts/make_quickstart_data.py" "$DATA/cu_emt.xyz"
    [ -f "$DATA/cu_emt_test.xyz" ] || "$BIN/python" "$ROOT/scripts/make_quickstart_data.py" \
        "$DATA/cu_emt_test.xyz" --frames 50 --seed 1
    if [ ! -f "$OUT/model/test_metrics.json" ]; then
        "$BIN/mlip-gnn" train "$ROOT/configs/quickstart.yaml" --set output.run_dir="$OUT/model" \
            --set train.budget_minutes=null --set output.progress=false
    fi
    MODEL=$OUT/model
fi

"$BIN/mlip-gnn" search "$ROOT/configs/search/cu13.yaml" --model "$MODEL" -o "$OUT"
echo "minima, lowest first: $OUT/minima.xyz (report: $OUT/report.md)"
