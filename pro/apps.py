from django.apps import AppConfig


class ProConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pro"
    verbose_name = "Patient-reported outcomes"

    def ready(self) -> None:
        from pro import crypto, signals  # noqa: F401 - signals: reminders stop when staff enter the visit or the patient exits

        crypto.check_key_configured()
