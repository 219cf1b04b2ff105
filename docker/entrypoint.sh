#!/bin/sh
# Every service of the image starts through here. Files it writes (report artifacts, backups) are readable by
# the app group and no one else: 0640 files, 0750 directories. Migrations run once, in the compose `migrate`
# service (or `python manage.py migrate` on each release); static files are collected when the image is built.
set -e
umask 0027
exec "$@"
