"""The demo as `make run` serves it (SQLite, tasks run at once, e-mail to the console):
a guest buys two tickets and pays with the demo provider; the DPO's reads and the nightly
purge run. Run by tests/test_demo_sqlite.py in a child process, with DATABASE_URL pointing
at a throw-away SQLite file; prints one line per step and exits non-zero on a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum.settings")


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse
    from django.utils import timezone

    from accounts.models import CardProduct, CardVisit, User
    from accounts.services.card_scans import card_scan
    from privacy.erasure import erasure_preview
    from privacy.purge import purge_run
    from privacy.services import access_bundle
    from tests.accounts.card_factories import desk_card
    from tests.staff import totp_activate
    from ticketing.models import Order, TicketType, TimeSlot

    assert connection.vendor == "sqlite", connection.vendor
    setup_test_environment()  # the test client's ALLOWED_HOSTS; no other change
    call_command("migrate", verbosity=0)
    call_command("load_demo", verbosity=0)
    print("demo loaded")

    client = Client()
    for page in ("/", "/card/", "/privacy/", "/privacy/request/", "/accounts/signup/"):
        answer = client.get(page)
        assert answer.status_code == 200, (page, answer.status_code)
    print("public pages served")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    slot = (
        TimeSlot.objects.filter(
            starts_at__date__gte=tomorrow, exhibition__slug="golden-age-tapestries"
        )
        .order_by("starts_at")
        .first()
    )
    assert slot is not None, "no slot after today"
    local = timezone.localtime(slot.starts_at)
    url = reverse(
        "ticketing:checkout",
        args=[slot.exhibition.slug, local.date().isoformat(), local.strftime("%H%M")],
    )
    assert client.get(url).status_code == 200
    adult = TicketType.objects.get(site=slot.site, kind=TicketType.Kind.ADULT)
    # a first buyer, so that the second one's capacity check reads sold tickets back
    first = client.post(
        url, {f"qty_{adult.pk}": "1", "name": "Grace Hopper", "email": "grace@visitor.example"}
    )
    assert first.status_code == 302, first.status_code
    response = client.post(
        url, {f"qty_{adult.pk}": "2", "name": "Ada Lovelace", "email": "ada@visitor.example"}
    )
    assert response.status_code == 302, response.status_code
    order = Order.objects.get(buyer__email="ada@visitor.example")
    print("order placed", order.code, order.status)
    pay = client.post(reverse("ticketing:order_pay", args=[order.access_token]))
    assert pay.status_code == 302, pay.status_code
    done = client.post(pay["Location"], follow=True)
    assert done.status_code == 200, done.status_code
    order.refresh_from_db()
    assert order.status == Order.Status.PAID, order.status
    assert "ada@visitor.example" in done.content.decode()
    print("order paid", order.code)

    # a museum card sold at the desk is started by its first scan, then admitted
    card = desk_card(
        product=CardProduct.objects.filter(is_active=True).first(),
        name="Aino Aalto",
        email="aino@visitor.example",
    )
    first_scan = card_scan(code=card.number, site=slot.site)
    second_scan = card_scan(code=card.number, site=slot.site)
    assert (first_scan.result, second_scan.result) == ("valid", "valid"), first_scan
    assert CardVisit.objects.filter(card=card).count() == 2
    print("card scanned twice")

    # the front desk's admin, signed in with the second factor set up
    staff = User.objects.get(email="admin@museum.example")
    totp_activate(staff)
    desk = Client()
    desk.force_login(staff)
    for page in (
        "/admin/",
        reverse("admin:ticketing_order_changelist") + "?q=ada%40visitor",
        reverse("admin:ticketing_order_change", args=[order.pk]),
        reverse("admin:privacy_processingrestriction_changelist"),
        "/check-in/",
    ):
        answer = desk.get(page)
        assert answer.status_code == 200, (page, answer.status_code)
    assert (
        "ada@visitor.example"
        in desk.get(reverse("admin:ticketing_order_change", args=[order.pk])).content.decode()
    )
    print("admin pages served")

    bundle = access_bundle(email="ada@visitor.example")
    assert len(bundle["sections"]["ticketing.order:buyer"]["rows"]) == 1
    preview = erasure_preview(email="ada@visitor.example")
    assert any(item.key == "ticketing.order:buyer" for item in preview.items)
    print("access bundle and erasure preview read")
    run = purge_run(as_of=timezone.now() + dt.timedelta(days=7 * 366))
    assert run.status == "done", run.status
    assert run.report["ticketing.order:buyer"]["deleted"] >= 1, run.report
    print("purge ran", run.report["ticketing.order:buyer"])


if __name__ == "__main__":
    main()
