#!/bin/sh
# Back up the registry database: docker/backup.sh DATABASE_URL FILE
# A custom-format dump of every table, clinical records and their audit history alike.
set -eu
url="${1:?usage: backup.sh DATABASE_URL FILE}"
out="${2:?usage: backup.sh DATABASE_URL FILE}"
pg_dump --format=custom --no-owner --no-privileges --file="$out" "$url"
echo "backup written to $out ($(wc -c <"$out") bytes)"
