#!/bin/sh
# The shared do-not-call list's database and role, created once and safe to run on every
# `up`: the role's password follows DNC_DB_PASSWORD, the database belongs to the role, and
# nobody else may connect to it. Values reach SQL as psql variables (quoted by format()),
# never pasted into the statements.
set -eu
psql -v ON_ERROR_STOP=1 -d postgres \
    -v role="$DNC_DB_USER" -v password="$DNC_DB_PASSWORD" -v db="$DNC_DB_NAME" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
    WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
echo "do-not-call database ready"
