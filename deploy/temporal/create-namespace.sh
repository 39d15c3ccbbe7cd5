#!/bin/sh
# One-shot (temporalio/admin-tools): wait for the Temporal cluster, create the namespace our
# processes use if it does not exist, and wait until the frontend serves it (its namespace
# cache refreshes every few seconds), so that the next step can register search attributes.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-14d}"
ATTEMPTS="${SETUP_ATTEMPTS:-60}"

retry() {
    what="$1"
    shift
    n=1
    until "$@" >/dev/null 2>&1; do
        if [ "$n" -ge "$ATTEMPTS" ]; then
            echo "gave up waiting for $what after $ATTEMPTS attempts" >&2
            return 1
        fi
        n=$((n + 1))
        sleep 2
    done
    echo "$what: ok"
}

retry "cluster health" temporal operator cluster health --address "$ADDRESS"
if temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1; then
    echo "namespace $NAMESPACE exists"
else
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
        --address "$ADDRESS"
    echo "namespace $NAMESPACE created (retention $RETENTION)"
fi
retry "namespace $NAMESPACE served" \
    temporal workflow list --namespace "$NAMESPACE" --address "$ADDRESS" --limit 1
