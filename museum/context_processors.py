from django.conf import settings


def museum(request):
    """Values every page template needs: the museum's name and the payment mode."""
    return {
        "museum_name": settings.MUSEUM_NAME,
        "demo_payments": settings.PAYMENT_PROVIDER == "demo",
    }
