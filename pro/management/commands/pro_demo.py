"""``manage.py pro_demo``: demo contacts and invitations, so `make run` shows questionnaire e-mails in media/outbox."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import F

from pro import sending
from pro.models import PatientContact
from pro.services import set_contact
from trials.models import Patient, Visit


class Command(BaseCommand):
    help = (
        "Give up to --per-site patients per site with an open follow-up window a demo e-mail address "
        "(demo.patient.N@example.org, a reserved domain) and run the invitation job once, whatever the hour. "
        "With the embedded default the messages land in MEDIA_ROOT/outbox. Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--per-site", type=int, default=5)

    def handle(self, *args, **opts):
        made = 0
        for site_id in Patient.objects.order_by().values_list("site_id", flat=True).distinct():
            today = Patient.objects.filter(site_id=site_id).first().site.local_date()
            open_visits = Visit.objects.filter(
                patient__site_id=site_id,
                visit_code__in=sending.visit_codes(),
                window_start__lte=today,
                window_end__gte=today,
                visit_date__isnull=True,
                not_done_reason="",
                patient__exits__isnull=True,
                patient__consent_date__lte=F("window_end"),
            ).exclude(patient__pro_contact__isnull=False)
            patient_ids = list(dict.fromkeys(open_visits.values_list("patient_id", flat=True)))[: opts["per_site"]]
            for patient in Patient.objects.filter(pk__in=patient_ids):
                made += 1
                n = PatientContact.objects.count() + 1
                set_contact(patient, email=f"demo.patient.{n}@example.org", reason="Demo contact (pro_demo)")
        result = sending.run(any_hour=True)
        where = getattr(settings, "EMAIL_FILE_PATH", "the configured SMTP server")
        self.stdout.write(f"{made} demo contacts; {result.invited} invitations and {result.reminded} reminders sent to {where}.")
