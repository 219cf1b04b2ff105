"""Celery tasks of the PRO app; the beat schedule is in config/settings/base.py."""

from __future__ import annotations

import dataclasses

from celery import shared_task


@shared_task(name="pro.tasks.send_invitations", ignore_result=True)
def send_invitations() -> dict:
    """Hourly tick of the invitation job (``pro.sending.run``); returns its counts."""
    from pro import sending

    return dataclasses.asdict(sending.run())


@shared_task(name="pro.tasks.erase_exited_contacts", ignore_result=True)
def erase_exited_contacts() -> int:
    """Erase contact details ``PRO_CONTACT_RETENTION_DAYS`` after study exit (``pro.services.erase_exited_contacts``)."""
    from pro import services

    return services.erase_exited_contacts()
