#!/bin/sh
# The predictive score on X Education's 9,240 real leads, end to end through the product: import the leads with
# their outcome into a scratch database, train a model (which evaluates it first, beside the playbook's fit
# score and a naive-Bayes baseline, in 5-fold stratified cross-validation: the leads have no dates), and print
# one JSON line with the figures. See README.md ("The predictive score").
#   examples/x-education/evaluate.sh
# LEADRELAY: the command to run (default: leadrelay); XEDU_DATA: the dataset's folder (default:
# ../shared/datasets/x-education-leads next to this repository); PYTHON: prints the line (default: python3).
set -eu
# One OpenMP thread unless told otherwise: on a machine busy with other work, a thread per core made training
# about nine times slower (a user trial: 337 s against about 50 s); on an idle one it gains little here.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export OMP_NUM_THREADS
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XEDU_DATA:-$HERE/../../../shared/datasets/x-education-leads}
LEADRELAY=${LEADRELAY:-leadrelay}
PYTHON=${PYTHON:-python3}
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
DB="sqlite:///$SCRATCH/xedu.db"
START=$(date +%s)

# Only columns a lead fills in or causes before sales follows it up (Tags, Lead Quality, Last Activity,
# Last Notable Activity, Lead Profile and the Asymmetrique scores are left out: sales fills them in).
"$LEADRELAY" --database "$DB" --playbook "$HERE/playbook.yaml" import "$DATA/Leads.csv" \
    --id-column "Prospect ID" \
    --map "Lead Origin=lead_origin" \
    --map "Lead Source=lead_source" \
    --map "Do Not Email=do_not_email:bool" \
    --map "Country=country" \
    --map "Specialization=specialization" \
    --map "How did you hear about X Education=heard_from" \
    --map "What is your current occupation=occupation" \
    --map "What matters most to you in choosing a course=what_matters" \
    --map "City=city" \
    --map "A free copy of Mastering The Interview=free_copy:bool" \
    --map "TotalVisits=total_visits:float" \
    --map "Total Time Spent on Website=time_on_site:int" \
    --map "Page Views Per Visit=page_views_per_visit:float" \
    --null Select --outcome Converted --json > "$SCRATCH/import.json"
"$LEADRELAY" --database "$DB" --playbook "$HERE/playbook.yaml" model train --json > "$SCRATCH/train.json"

"$PYTHON" - "$SCRATCH/train.json" "$START" <<'PY'
import json, sys, time
trained = json.load(open(sys.argv[1]))
report = trained["report"]
scores = report["scores"]
print(json.dumps({
    "roc_auc": scores["model"]["roc_auc"], "pr_auc": scores["model"]["pr_auc"],
    "brier": scores["model"]["brier"], "calibration_error": scores["model"]["calibration_error"],
    "naive_bayes_roc_auc": scores["naive_bayes"]["roc_auc"], "rule_roc_auc": scores["rule_fit"]["roc_auc"],
    "leads": report["outcomes"], "converted": report["converted"], "validation": report["validation"]["method"],
    "features": len(report["features"]), "warnings": report["warnings"], "model_version": trained["version"],
    "seconds": round(time.time() - int(sys.argv[2])),
}))
PY
