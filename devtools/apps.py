from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development tools: the demo brand generator and the `bench_*` commands."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "devtools"
    verbose_name = "development tools"
