#!/bin/sh
# Restore a dump made by backup.sh into an EMPTY database: docker/restore.sh FILE DATABASE_URL
set -eu
in="${1:?usage: restore.sh FILE DATABASE_URL}"
url="${2:?usage: restore.sh FILE DATABASE_URL}"
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$in"
echo "restored $in"
