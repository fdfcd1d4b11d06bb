from django.apps import AppConfig


class MuseumConfig(AppConfig):
    name = "museum"

    def ready(self) -> None:
        from museum import staff

        staff.connect_signal_receivers()  # staff sign-ins into the audit log
