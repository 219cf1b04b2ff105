from django.apps import AppConfig


class ProConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "pro"
    verbose_name = "Patient-reported outcomes"

    def ready(self) -> None:
        from pro import crypto

        crypto.check_key_configured()
