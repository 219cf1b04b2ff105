from django.apps import AppConfig


class TrialsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "trials"
    verbose_name = "Registry"

    def ready(self) -> None:
        # Importing the services registers each entity's validator with
        # trials.services.records, which generic updates rely on.
        from trials import services  # noqa: F401
        from trials.login_protection import connect_signals

        connect_signals()
