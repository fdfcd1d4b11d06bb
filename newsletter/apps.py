from django.apps import AppConfig


class NewsletterConfig(AppConfig):
    name = "newsletter"

    def ready(self) -> None:
        # The mail provider reports opens and clicks only by anymail's tracking signal:
        # adapt it into one service call (newsletter.signals).
        from anymail.signals import tracking

        from newsletter.signals import tracking_receiver

        tracking.connect(tracking_receiver, dispatch_uid="newsletter.tracking")
