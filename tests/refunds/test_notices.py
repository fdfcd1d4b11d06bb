"""Reseller notices: signed delivery to the reseller's webhook, and the API that lists them.

The webhook receiver is a real HTTP server on localhost in a thread; it checks the
signature itself, the way a reseller would (HMAC-SHA256 of "<t>.<body>").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.utils import timezone

from museum.models import AuditEvent
from refunds.models import Campaign, ResellerNotice
from refunds.services.campaigns import campaign_process, campaign_start
from refunds.services.notices import (
    NoticeDeliveryError,
    reseller_notice_deliver,
    reseller_notice_record,
    reseller_webhook_secret_rotate,
)
from refunds.tasks import deliver_reseller_notice
from tests.refunds.factories import CampaignFactory
from tests.ticketing.api_helpers import _client, _reseller_order
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, Reseller, Ticket
from ticketing.services.resellers import reseller_create

NOTICES = "/api/v1/notices/"
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


class Receiver:
    """A webhook endpoint on 127.0.0.1 answering ``status``; keeps what it received."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/museum"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _signature_ok(header: str, body: bytes, secret: str) -> tuple[bool, int]:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]), int(parts["t"])


@pytest.fixture
def reseller_order(db):
    reseller, token = reseller_create(name="City Tours", contact_email="ops@citytours.example")
    slot = TimeSlotFactory(capacity=30)
    adult = TicketTypeFactory(site=slot.site)
    order = _reseller_order(reseller, slot, adult, quantity=2)
    return reseller, token, order


def _record(order: Order, key: str, django_capture_on_commit_callbacks) -> ResellerNotice:
    with django_capture_on_commit_callbacks(execute=False):
        notice = reseller_notice_record(
            order=order,
            kind=ResellerNotice.Kind.ORDER_CANCELLED,
            dedupe_key=key,
            data={"reason": "a burst water pipe"},
            now=NOW,
        )
    assert notice is not None
    return notice


def _with_webhook(reseller: Reseller, url: str) -> str:
    Reseller.objects.filter(pk=reseller.pk).update(webhook_url=url)
    reseller.webhook_url = url
    return reseller_webhook_secret_rotate(reseller=reseller)


# --- Delivery ---------------------------------------------------------------------------


def test_deliver_posts_signed_payload_and_marks_delivered(
    reseller_order, django_capture_on_commit_callbacks
):
    # Given a reseller with a webhook and a signing secret, and a notice about its order
    reseller, _token, order = reseller_order
    notice = _record(order, "test:1", django_capture_on_commit_callbacks)
    with Receiver() as receiver:
        secret = _with_webhook(reseller, receiver.url)
        # When the notice is delivered
        with time_machine.travel(NOW, tick=False):
            delivered = reseller_notice_deliver(notice_id=notice.pk)
    # Then one POST arrived, signed with the reseller's secret over "<t>.<body>"
    assert delivered is True
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    ok, timestamp = _signature_ok(headers["Museum-Signature"], body, secret)
    assert ok
    assert timestamp == int(NOW.timestamp())
    assert headers["Content-Type"] == "application/json"
    assert headers["Museum-Notice-Id"] == str(notice.public_id)
    payload = json.loads(body)
    assert payload["id"] == str(notice.public_id)
    assert payload["type"] == "order.cancelled"
    assert payload["order"]["code"] == order.code
    assert payload["reason"] == "a burst water pipe"
    # And a signature with another secret would not match
    assert not _signature_ok(headers["Museum-Signature"], body, "whsec_other")[0]
    notice.refresh_from_db()
    assert notice.delivered_at == NOW
    assert notice.attempts == 1
    assert notice.last_error == ""


def test_deliver_twice_posts_once(reseller_order, django_capture_on_commit_callbacks):
    reseller, _token, order = reseller_order
    notice = _record(order, "test:2", django_capture_on_commit_callbacks)
    with Receiver() as receiver:
        _with_webhook(reseller, receiver.url)
        first = deliver_reseller_notice.run(notice.pk)
        second = deliver_reseller_notice.run(notice.pk)
    assert (first, second) == (True, False)
    assert len(receiver.requests) == 1
    notice.refresh_from_db()
    assert notice.attempts == 1
    assert notice.delivered_at is not None


def test_receiver_error_leaves_notice_undelivered_and_counts_attempts(
    reseller_order, django_capture_on_commit_callbacks
):
    reseller, _token, order = reseller_order
    notice = _record(order, "test:3", django_capture_on_commit_callbacks)
    with Receiver(status=500) as receiver:
        _with_webhook(reseller, receiver.url)
        for _attempt in range(2):
            with pytest.raises(NoticeDeliveryError, match="HTTP 500"):
                reseller_notice_deliver(notice_id=notice.pk)
        # The receiver recovers: the next try delivers
        receiver.status = 204
        assert reseller_notice_deliver(notice_id=notice.pk) is True
    assert len(receiver.requests) == 3
    notice.refresh_from_db()
    assert notice.attempts == 3
    assert notice.last_error == ""
    assert notice.delivered_at is not None


def test_receiver_error_is_recorded(reseller_order, django_capture_on_commit_callbacks):
    reseller, _token, order = reseller_order
    notice = _record(order, "test:4", django_capture_on_commit_callbacks)
    with Receiver(status=500) as receiver:
        _with_webhook(reseller, receiver.url)
        with pytest.raises(NoticeDeliveryError):
            reseller_notice_deliver(notice_id=notice.pk)
    notice.refresh_from_db()
    assert notice.delivered_at is None
    assert notice.attempts == 1
    assert notice.last_error == "HTTP 500"


def test_unreachable_webhook_counts_an_attempt(reseller_order, django_capture_on_commit_callbacks):
    reseller, _token, order = reseller_order
    notice = _record(order, "test:5", django_capture_on_commit_callbacks)
    receiver = Receiver()  # bound but never serving, then closed: connection refused
    url = receiver.url
    receiver.server.server_close()
    _with_webhook(reseller, url)
    with pytest.raises(NoticeDeliveryError):
        reseller_notice_deliver(notice_id=notice.pk)
    notice.refresh_from_db()
    assert notice.delivered_at is None
    assert notice.attempts == 1
    assert notice.last_error != ""


def test_no_webhook_no_request(reseller_order, django_capture_on_commit_callbacks):
    _reseller, _token, order = reseller_order
    notice = _record(order, "test:6", django_capture_on_commit_callbacks)
    assert reseller_notice_deliver(notice_id=notice.pk) is False
    notice.refresh_from_db()
    assert notice.delivered_at is None
    assert notice.attempts == 0
    assert notice.last_error == ""


def test_webhook_without_secret_is_not_posted(reseller_order, django_capture_on_commit_callbacks):
    reseller, _token, order = reseller_order
    notice = _record(order, "test:7", django_capture_on_commit_callbacks)
    with Receiver() as receiver:
        Reseller.objects.filter(pk=reseller.pk).update(webhook_url=receiver.url)
        assert reseller_notice_deliver(notice_id=notice.pk) is False
    assert receiver.requests == []
    notice.refresh_from_db()
    assert notice.delivered_at is None
    assert notice.attempts == 0
    assert notice.last_error == "no webhook signing secret"


def test_non_http_webhook_is_not_opened(reseller_order, django_capture_on_commit_callbacks):
    reseller, _token, order = reseller_order
    notice = _record(order, "test:8", django_capture_on_commit_callbacks)
    _with_webhook(reseller, "file:///etc/passwd")
    assert reseller_notice_deliver(notice_id=notice.pk) is False
    notice.refresh_from_db()
    assert notice.delivered_at is None
    assert notice.attempts == 0
    assert notice.last_error == "webhook address is not http(s)"


def test_secret_rotation_replaces_secret_and_audits(reseller_order):
    reseller, _token, _order = reseller_order
    first = reseller_webhook_secret_rotate(reseller=reseller)
    second = reseller_webhook_secret_rotate(reseller=reseller)
    reseller.refresh_from_db()
    assert first != second
    assert second.startswith("whsec_")
    assert len(second) <= Reseller._meta.get_field("webhook_secret").max_length
    assert reseller.webhook_secret == second
    events = AuditEvent.objects.filter(action="reseller.webhook_secret_rotated")
    assert events.count() == 2
    assert not any(second in json.dumps(e.data) for e in events)


# --- API --------------------------------------------------------------------------------


def _notices(reseller, order, count, django_capture_on_commit_callbacks):
    return [
        _record(order, f"api:{reseller.pk}:{i}", django_capture_on_commit_callbacks)
        for i in range(count)
    ]


def test_api_lists_own_notices_oldest_first(reseller_order, django_capture_on_commit_callbacks):
    reseller, token, order = reseller_order
    mine = _notices(reseller, order, 3, django_capture_on_commit_callbacks)
    response = _client(token).get(NOTICES)
    assert response.status_code == 200
    body = response.json()
    assert [n["id"] for n in body["results"]] == [str(n.public_id) for n in mine]
    assert body["next"] is None
    first = body["results"][0]
    assert first["type"] == "order.cancelled"
    assert first["order"] == order.code
    assert first["delivered_at"] is None
    assert first["payload"]["id"] == first["id"]
    assert first["payload"]["reason"] == "a burst water pipe"


def test_api_never_shows_another_resellers_notices(
    reseller_order, django_capture_on_commit_callbacks
):
    reseller, token, order = reseller_order
    other, other_token = reseller_create(name="Rival", contact_email="ops@rival.example")
    slot = TimeSlotFactory(capacity=10)
    other_order = _reseller_order(other, slot, TicketTypeFactory(site=slot.site))
    mine = _notices(reseller, order, 2, django_capture_on_commit_callbacks)
    theirs = _notices(other, other_order, 2, django_capture_on_commit_callbacks)
    listed = _client(token).get(NOTICES).json()["results"]
    assert {n["id"] for n in listed} == {str(n.public_id) for n in mine}
    # Another reseller's notice id is no cursor: refused like an unknown id, nothing leaks
    response = _client(token).get(NOTICES, {"after": str(theirs[0].public_id)})
    assert response.status_code == 400
    assert "after" in response.json()
    assert str(theirs[1].public_id) not in response.content.decode()
    assert _client(other_token).get(NOTICES).json()["results"][0]["id"] == str(theirs[0].public_id)


def test_api_cursor_pages_through_notices(reseller_order, django_capture_on_commit_callbacks):
    reseller, token, order = reseller_order
    # Notices created within the same instant are still ordered (by their row id)
    with time_machine.travel(NOW, tick=False):
        mine = _notices(reseller, order, 5, django_capture_on_commit_callbacks)
    client = _client(token)
    page = client.get(NOTICES, {"limit": 2}).json()
    seen = [n["id"] for n in page["results"]]
    pages = 1
    while page["next"] is not None:
        page = client.get(page["next"]).json()
        seen += [n["id"] for n in page["results"]]
        pages += 1
    assert seen == [str(n.public_id) for n in mine]
    assert pages == 3
    after_third = client.get(NOTICES, {"after": str(mine[2].public_id)}).json()
    assert [n["id"] for n in after_third["results"]] == [str(n.public_id) for n in mine[3:]]
    last = client.get(NOTICES, {"after": str(mine[-1].public_id)}).json()
    assert last == {"results": [], "next": None}


@pytest.mark.parametrize(
    "query",
    [{"after": "not-a-uuid"}, {"limit": "0"}, {"limit": "201"}, {"limit": "x"}],
)
def test_api_bad_query_is_400(reseller_order, query):
    _reseller, token, _order = reseller_order
    response = _client(token).get(NOTICES, query)
    assert response.status_code == 400


def test_api_notices_need_a_token(db):
    assert _client(None).get(NOTICES).status_code == 401
    assert _client("wrong-token").get(NOTICES).status_code == 401


def test_campaign_cancels_reseller_order_visible_through_api(
    reseller_order, django_capture_on_commit_callbacks
):
    # Given a reseller's order of two tickets on a slot
    reseller, token, order = reseller_order
    slot = order.tickets.first().time_slot
    campaign = CampaignFactory(
        scope=Campaign.Scope.SLOT,
        site=slot.site,
        time_slot=slot,
        first_day=timezone.localdate(slot.starts_at),
    )
    # When the slot's cancellation campaign runs
    with django_capture_on_commit_callbacks(execute=False):
        campaign_start(campaign=campaign, actor=None)
        while campaign_process(campaign_id=campaign.pk):
            pass
    # Then the order read endpoint shows the order and its tickets cancelled
    client = _client(token)
    body = client.get(f"/api/v1/orders/{order.code}/").json()
    assert body["status"] == "refunded"  # the museum credits the reseller the whole order
    assert {t["status"] for t in body["tickets"]} == {Ticket.Status.CANCELLED}
    # And one notice tells the reseller, listed by the API
    notices = client.get(NOTICES).json()["results"]
    assert len(notices) == 1
    assert notices[0]["order"] == order.code
    assert notices[0]["type"] == "order.cancelled"
    assert notices[0]["payload"]["order"]["status"] == body["status"]
    assert sorted(notices[0]["payload"]["tickets"]) == sorted(t["id"] for t in body["tickets"])
