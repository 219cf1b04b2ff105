"""Deterministic synthetic registry generator (``manage.py seed_registry``)."""
