#!/usr/bin/env bash
# Retake docs/operating.md's Temporal UI screenshots from a running dev stack (make run).
# Needs Debian's chromium (apt-get install chromium); writes docs/ui-*.png.
set -euo pipefail
cd "$(dirname "$0")"
ui=${TEMPORAL_UI:-http://localhost:8233}
shoot() { # file width height url
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --window-size="$2,$3" --virtual-time-budget=15000 \
    --screenshot="$1" "$4" 2>/dev/null
}
query=$(python3 -c 'import urllib.parse; print(urllib.parse.quote(
  "WorkflowType=\"OutboundCallWorkflow\" AND CallOutcome=\"completed\""))')
shoot ui-calls.png 1600 700 "$ui/namespaces/default/workflows?query=$query"
wid=$(../.venv/bin/temporal workflow list --address "${TEMPORAL_ADDRESS:-localhost:7233}" \
  --query 'WorkflowType="OutboundCallWorkflow" AND CallOutcome="completed"' --limit 1 -o json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["execution"]["workflowId"])')
shoot ui-call.png 1600 1300 "$ui/namespaces/default/workflows/$wid"
run=$(../.venv/bin/temporal workflow describe --address "${TEMPORAL_ADDRESS:-localhost:7233}" \
  -w "$wid" -o json | python3 -c 'import json,sys
print(json.load(sys.stdin)["workflowExecutionInfo"]["execution"]["runId"])')
shoot ui-search-attributes.png 1600 900 "$ui/namespaces/default/workflows/$wid/$run/search-attributes"
