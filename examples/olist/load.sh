#!/bin/sh
# Load Olist's marketing funnel into the database given: the MQLs through the CSV import,
# then the closed deals through the deals import. See README.md.
#   examples/olist/load.sh sqlite:///olist.db
# LEADRELAY: the command to run (default: leadrelay); OLIST_DATA: the dataset's folder
# (default: ../shared/datasets/olist-marketing-funnel next to this repository).
set -eu
DATABASE_URL=${1:?usage: load.sh DATABASE_URL}
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${OLIST_DATA:-$HERE/../../../shared/datasets/olist-marketing-funnel}
LEADRELAY=${LEADRELAY:-leadrelay}

"$LEADRELAY" --database "$DATABASE_URL" --playbook "$HERE/playbook.yaml" import \
    "$DATA/olist_marketing_qualified_leads_dataset.csv" \
    --id-column mql_id --time-column first_contact_date \
    --map origin=source --map landing_page_id=landing_page_id --source olist
"$LEADRELAY" --database "$DATABASE_URL" --playbook "$HERE/playbook.yaml" opps import-won \
    "$DATA/olist_closed_deals_dataset.csv" \
    --id-column mql_id --won-column won_date --owner olist_sales --name-column business_segment --source olist
