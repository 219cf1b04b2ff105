"""Local development: the embedded default (SQLite, in-process tasks)."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# Development only: a well-known key so `make run` works without setup (production refuses it).
PRO_CONTACT_KEY = env("PRO_CONTACT_KEY", default="ZGV2LW9ubHktcHJvLWNvbnRhY3Qta2V5LW5vdC1zZWM=")
