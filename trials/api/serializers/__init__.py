"""Serializers: read representations (staff), input shapes for the services, history entries.

Sponsor representations are derived from the staff ones in ``trials.api.deidentify``.
"""
