"""Admin: instruments are editable as data (validated on save); contacts show no address; logs are read-only."""

from __future__ import annotations

from django.contrib import admin

from pro.models import Instrument, Invitation, InvitationEvent, PatientContact, QuestionnaireResponse


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "version", "languages", "active", "shipped"]
    list_filter = ["active", "shipped"]
    readonly_fields = ["languages", "shipped", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        from pro import instruments

        obj.languages = instruments.validated_languages(obj.definition)
        super().save_model(request, obj, form, change)


@admin.register(PatientContact)
class PatientContactAdmin(admin.ModelAdmin):
    """No address or phone is shown or editable here: contacts are entered on the patient's page by site staff."""

    list_display = ["patient", "preferred_language", "consented", "erased_at", "updated_at"]
    fields = ["patient", "preferred_language", "consented", "erased_at", "created_at", "updated_at"]
    readonly_fields = ["patient", "erased_at", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EventInline(admin.TabularInline):
    model = InvitationEvent
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "sequence", "at", "actor", "detail"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["id", "patient", "visit_code", "status", "window_opens_on", "window_closes_on", "reminders_sent"]
    list_filter = ["status", "visit_code"]
    readonly_fields = [f.name for f in Invitation._meta.concrete_fields]
    inlines = [EventInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(QuestionnaireResponse)
class QuestionnaireResponseAdmin(admin.ModelAdmin):
    list_display = ["invitation", "instrument", "status", "language", "saved_at", "submitted_at"]
    list_filter = ["status", "instrument"]
    readonly_fields = [f.name for f in QuestionnaireResponse._meta.concrete_fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
