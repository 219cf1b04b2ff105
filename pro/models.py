"""Patient-reported outcomes (issue 15; docs/pro.md).

``Instrument``: a questionnaire defined as data (a JSON definition validated against
``pro/instruments/schema.json``). ``PatientContact``: the e-mail address / phone used for invitations, encrypted
at rest (``pro.crypto``). ``Invitation``: one patient-visit's questionnaire link; ``InvitationToken`` holds only
SHA-256 hashes of the link tokens. ``InvitationEvent``: the log the site sees (invited, reminded, opened,
submitted, stopped…). ``QuestionnaireResponse``: the patient's answers (draft, then submitted).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from pro import crypto


class InstrumentQuerySet(models.QuerySet):
    def current(self) -> InstrumentQuerySet:
        """Active instruments (one version per code is active)."""
        return self.filter(active=True)


class Instrument(models.Model):
    """A questionnaire defined as data: items, response scales, scoring rules and the text per language.

    ``definition`` follows ``pro/instruments/schema.json`` (checked by ``clean`` and by ``pro.instruments.load``).
    ``code``, ``name``, ``version`` and ``languages`` repeat the definition's fields for queries. A new version is a
    new row (answers keep pointing at the version they were given on); one version per code is ``active``.
    """

    code = models.SlugField(max_length=40, help_text="Stable code, e.g. bpi_sf.")
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=20)
    languages = models.JSONField(default=list, help_text="Language codes with complete, validated text, e.g. ['en'].")
    definition = models.JSONField(help_text="The instrument as data (pro/instruments/schema.json).")
    active = models.BooleanField(default=True)
    shipped = models.BooleanField(default=False, help_text="Ships with the product (loaded from pro/instruments/).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = InstrumentQuerySet.as_manager()

    class Meta:
        ordering = ["code", "-active", "version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="pro_instrument_code_version"),
            models.UniqueConstraint(fields=["code"], condition=Q(active=True), name="pro_instrument_one_active_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code} v{self.version})"

    def clean(self) -> None:
        from pro import instruments

        try:
            instruments.validate_definition(self.definition)
        except instruments.InstrumentError as exc:
            raise ValidationError({"definition": str(exc)}) from exc
        if self.definition.get("code") != self.code or str(self.definition.get("version")) != self.version:
            raise ValidationError({"definition": "code and version must match the definition's 'code' and 'version'."})

    def text(self, text: dict[str, str] | str, language: str) -> str:
        """``text`` (a {language: text} mapping of the definition) in ``language`` (``pro.instruments.text``)."""
        from pro import instruments

        return instruments.text(text, language, self.languages)

    @property
    def items(self) -> list[dict]:
        return self.definition["items"]

    def score(self, answers: dict) -> dict[str, float | None]:
        """Every scoring rule of the instrument applied to ``answers`` (``pro.scoring.score``)."""
        from pro import scoring

        return scoring.score(self.definition, answers)


class PatientContact(models.Model):
    """How to reach a patient for questionnaires: e-mail (and an optional phone), encrypted at rest.

    The plain values exist only in memory: ``email`` / ``phone`` properties encrypt on set and decrypt on get
    (``pro.crypto``, key from ``PRO_CONTACT_KEY``). Read them only after ``pro.access.can_read_contact`` (the
    patient's own site staff); they never go into exports, the API, audit text or logs. ``erase`` blanks them
    (``PRO_CONTACT_RETENTION_DAYS`` after study exit, by ``pro.tasks.erase_exited_contacts``). The history keeps
    who changed the contact and when, never the values.
    """

    patient = models.OneToOneField("trials.Patient", on_delete=models.PROTECT, related_name="pro_contact")
    email_encrypted = models.TextField(blank=True, editable=False)
    phone_encrypted = models.TextField(blank=True, editable=False)
    preferred_language = models.CharField(
        max_length=8, default="en", help_text="Language of the invitations and of the questionnaire page."
    )
    consented = models.BooleanField(
        default=True, help_text="The patient agreed to receive questionnaire invitations; unticked = no invitations."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["email_encrypted", "phone_encrypted"])

    class Meta:
        ordering = ["patient_id"]

    def __str__(self) -> str:
        return f"Contact of patient #{self.patient_id}"  # never the address

    def __repr__(self) -> str:
        return f"<PatientContact patient={self.patient_id}>"

    @property
    def email(self) -> str:
        return crypto.decrypt(self.email_encrypted)

    @email.setter
    def email(self, value: str) -> None:
        self.email_encrypted = crypto.encrypt((value or "").strip())

    @property
    def phone(self) -> str:
        return crypto.decrypt(self.phone_encrypted)

    @phone.setter
    def phone(self, value: str) -> None:
        self.phone_encrypted = crypto.encrypt((value or "").strip())

    @property
    def has_email(self) -> bool:
        return bool(self.email_encrypted) and self.erased_at is None

    @property
    def can_be_invited(self) -> bool:
        return self.consented and self.has_email


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Not sent yet"
    SENT = "sent", "Sent"
    OPENED = "opened", "Opened"
    SUBMITTED = "submitted", "Submitted"
    EXPIRED = "expired", "Expired (window closed)"
    STOPPED = "stopped", "Stopped"


class StopReason(models.TextChoices):
    SUBMITTED = "submitted", "Questionnaire submitted"
    VISIT_ENTERED = "visit_entered", "Visit entered by staff"
    EXITED = "exited", "Patient exited the study"
    WINDOW_CLOSED = "window_closed", "Visit window closed"
    NO_CONTACT = "no_contact", "No contact (erased or consent withdrawn)"
    VOIDED = "voided", "Visit or patient voided"
    BOUNCED = "bounced", "Message could not be delivered"


class Invitation(models.Model):
    """One patient-visit's questionnaires by link (one per visit).

    ``expires_at``: the end of the visit window's last day in the site's time zone (the link dies then).
    The link token is never stored: ``InvitationToken`` keeps SHA-256 hashes (``pro.tokens``). Reminders stop when
    ``reminders_stopped_at`` is set (``stop_reason`` says why).
    """

    patient = models.ForeignKey("trials.Patient", on_delete=models.PROTECT, related_name="pro_invitations")
    visit = models.OneToOneField("trials.Visit", on_delete=models.PROTECT, related_name="pro_invitation")
    visit_code = models.CharField(max_length=16, help_text="The scheduled visit (trials.domain.schedule code).")
    instruments = models.ManyToManyField(Instrument, related_name="invitations")
    status = models.CharField(max_length=12, choices=InvitationStatus.choices, default=InvitationStatus.PENDING)
    window_opens_on = models.DateField(help_text="Site-local date the invitation is due (window start, never before consent).")
    window_closes_on = models.DateField(help_text="Site-local last day of the visit window.")
    expires_at = models.DateTimeField(help_text="Midnight after window_closes_on at the site.")
    language = models.CharField(max_length=8, default="en")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="First invitation message sent.")
    opened_at = models.DateTimeField(null=True, blank=True, help_text="First time the link was opened.")
    submitted_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    next_reminder_on = models.DateField(
        null=True, blank=True, help_text="Site-local date the next reminder is due (PRO_REMINDER_OFFSETS_DAYS); empty = none."
    )
    reminders_stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=16, choices=StopReason.choices, blank=True)

    class Meta:
        ordering = ["window_opens_on", "id"]
        indexes = [
            models.Index(fields=["status", "window_closes_on"], name="pro_invitation_status_close"),
            models.Index(fields=["visit_code", "status"], name="pro_invitation_visit_status"),
            models.Index(fields=["next_reminder_on"], name="pro_invitation_next_reminder"),
        ]

    def __str__(self) -> str:
        return f"Invitation {self.pk} ({self.patient_id} {self.visit_code})"

    @property
    def is_open(self) -> bool:
        """The link still works: not expired, stopped or submitted (time checked by ``pro.tokens.resolve``)."""
        return self.status in {InvitationStatus.PENDING, InvitationStatus.SENT, InvitationStatus.OPENED}


class TokenChannel(models.TextChoices):
    EMAIL = "email", "E-mail (invitation or reminder)"
    CLINIC = "clinic", "QR code / printed link in clinic"


class InvitationToken(models.Model):
    """The SHA-256 hash of one link token of an invitation (the token itself is never stored).

    Every message and every QR code carries a fresh ``secrets.token_urlsafe(32)`` (256 bits); all of an invitation's
    tokens stay valid until it expires, so the link in the first e-mail still works after a reminder.
    """

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    channel = models.CharField(max_length=8, choices=TokenChannel.choices, default=TokenChannel.EMAIL)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Token of invitation {self.invitation_id}"


class EventKind(models.TextChoices):
    INVITED = "invited", "Invitation sent"
    REMINDED = "reminded", "Reminder sent"
    RESENT = "resent", "Invitation re-sent by staff"
    LINK_SHOWN = "link_shown", "QR code / printable link shown"
    OPENED = "opened", "Link opened"
    SAVED = "saved", "Answers saved (draft)"
    SUBMITTED = "submitted", "Questionnaire submitted"
    STOPPED = "stopped", "Reminders stopped"
    EXPIRED = "expired", "Expired (window closed)"
    BOUNCED = "bounced", "Message not delivered"
    FAILED = "failed", "Sending failed (will retry)"
    WITHDRAWN = "withdrawn", "Not sent (stopped before sending)"


class InvitationEvent(models.Model):
    """One line of an invitation's log, visible to the site (never holds a contact detail).

    ``sequence`` numbers messages of one kind (reminder 1, 2…): the unique constraint on
    (invitation, kind, sequence) for invitations and reminders is what makes each message go out once even when
    two beat ticks overlap. ``sending_since`` is set while the message is claimed but not yet confirmed sent
    (``pro.dispatch``: the row is inserted and committed before the message leaves, and cleared once it left);
    the log shows such a row as "sending".
    """

    invitation = models.ForeignKey(Invitation, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=12, choices=EventKind.choices)
    sequence = models.PositiveSmallIntegerField(default=0)
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    detail = models.CharField(max_length=200, blank=True, help_text="E.g. the stop reason; never an address.")
    sending_since = models.DateTimeField(
        null=True, blank=True, help_text="Claimed, message not yet confirmed sent (wall clock of the claim); empty = done."
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["sending_since"], condition=Q(sending_since__isnull=False), name="pro_event_sending"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["invitation", "kind", "sequence"],
                condition=Q(kind__in=["invited", "reminded"]),
                name="pro_event_message_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.invitation_id})"


class ResponseStatus(models.TextChoices):
    DRAFT = "draft", "Draft (saved, not submitted)"
    SUBMITTED = "submitted", "Submitted"


class QuestionnaireResponse(models.Model):
    """The patient's answers to one instrument of an invitation: ``answers`` is {item code: value}
    (a repeating group's value is a list of {item code: value}); partial while ``draft``."""

    invitation = models.ForeignKey(Invitation, on_delete=models.PROTECT, related_name="responses")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="responses")
    answers = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=8, default="en")
    status = models.CharField(max_length=10, choices=ResponseStatus.choices, default=ResponseStatus.DRAFT)
    saved_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["invitation_id", "instrument_id"]
        constraints = [
            models.UniqueConstraint(fields=["invitation", "instrument"], name="pro_response_one_per_instrument"),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(submitted_at__isnull=False), name="pro_response_submitted_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument.code} for invitation {self.invitation_id} ({self.status})"


def window_expiry(window_closes_on: dt.date, time_zone: str) -> dt.datetime:
    """The instant a link dies: midnight at the start of the day after ``window_closes_on``, site-local."""
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(window_closes_on + dt.timedelta(days=1), dt.time.min, tzinfo=ZoneInfo(time_zone))
