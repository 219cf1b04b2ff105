"""Project configuration package; exports the Celery app so ``celery -A config`` works."""

from .celery_app import app as celery_app

__all__ = ("celery_app",)
