"""A fake Stripe API at the HTTP boundary, plus webhook events signed as Stripe signs them.

``FakeStripeHTTP`` is a ``stripe.HTTPClient``: the stripe library builds the real request
(form encoding, Authorization, Idempotency-Key, Stripe-Version headers) and parses the
JSON answer into its own objects; only the socket is replaced. The answers are shaped
like Stripe's (checkout.session, refund, charge, error objects) and follow its rules
where the shop relies on them: a replayed Idempotency-Key returns the first answer, a
reused key with other parameters is an idempotency_error, a refund needs a paid
PaymentIntent and cannot exceed what is left.

Usage::

    fake = install(monkeypatch)          # every StripeClient of the app now talks to it
    session = fake.pay(session_id)       # the buyer paid on the hosted page
    payload = event_payload("checkout.session.completed", session)
    header = signature_header(payload, secret="whsec_...")
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

API_VERSION = stripe.api_version


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def decode_form(body: str) -> dict[str, Any]:
    """Decode Stripe's form encoding (``a[b][0][c]=1``) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
        return node

    return listify(root)


class _Headers(dict):
    """Response headers that answer in any case, as the HTTP libraries' do."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__({k.lower(): v for k, v in values.items()})

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass
class RecordedRequest:
    """One request the stripe library sent, decoded."""

    method: str
    path: str
    query: dict[str, Any]
    params: dict[str, Any]
    headers: dict[str, str]
    status: int = 0

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class _Failure:
    status: int
    error: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class FakeStripeHTTP(stripe.HTTPClient):
    """Answers the Stripe API calls the shop makes, from an in-memory Stripe account."""

    name = "fake-stripe"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}  # by payment intent
        self.refunds: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[tuple[str, str], tuple[dict[str, Any], tuple[str, int, Any]]] = {}
        self._failures: list[_Failure] = []

    # --- the HTTPClient interface ----------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        headers: Any,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Any]:
        parts = urlsplit(url)
        body = post_data.decode() if isinstance(post_data, bytes) else (post_data or "")
        recorded = RecordedRequest(
            method=method.upper(),
            path=parts.path,
            query=decode_form(parts.query),
            params=decode_form(body),
            headers=dict(headers or {}),
        )
        self.requests.append(recorded)
        key = recorded.header("Idempotency-Key") or ""
        if recorded.method == "POST" and (recorded.path, key) in self._idempotent:
            first_params, first_answer = self._idempotent[(recorded.path, key)]
            if first_params != recorded.params:
                answer = self._error(
                    400,
                    {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the "
                        "same parameters they were first used with.",
                    },
                )
            else:
                answer = first_answer
        elif self._failures:
            failure = self._failures.pop(0)
            answer = self._error(failure.status, failure.error, failure.headers)
        else:
            answer = self._route(recorded)
            if recorded.method == "POST" and answer[1] < 500:
                self._idempotent[(recorded.path, key)] = (recorded.params, answer)
        recorded.status = answer[1]
        return answer

    def request_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the shop never streams from Stripe")

    def close(self) -> None:
        pass

    # --- what the test can make Stripe do -------------------------------------------
    def fail_next(
        self,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        message: str = "Invalid request.",
        code: str = "",
        should_retry: bool = False,
    ) -> None:
        """Make the next request fail the way Stripe fails (an error object)."""
        error: dict[str, Any] = {"type": type, "message": message}
        if code:
            error["code"] = code
        headers = {"Stripe-Should-Retry": "true" if should_retry else "false"}
        self._failures.append(_Failure(status=status, error=error, headers=headers))

    def pay(
        self, session_id: str, *, amount_total: int | None = None, payment_status: str = "paid"
    ) -> dict[str, Any]:
        """The buyer paid on the hosted page; returns the session as webhooks carry it.

        ``amount_total`` lets a test make Stripe report another amount than was asked.
        """
        session = self.sessions[session_id]
        if amount_total is not None:
            session["amount_total"] = amount_total
        if not session["payment_intent"]:
            session["payment_intent"] = _id("pi")
        session["status"] = "complete"
        session["payment_status"] = payment_status
        if payment_status == "paid":
            pi = session["payment_intent"]
            self.charges[pi] = {
                "id": _id("ch"),
                "object": "charge",
                "amount": session["amount_total"],
                "amount_captured": session["amount_total"],
                "amount_refunded": 0,
                "captured": True,
                "created": int(time.time()),
                "currency": session["currency"],
                "livemode": False,
                "metadata": {},
                "paid": True,
                "payment_intent": pi,
                "refunded": False,
                "status": "succeeded",
            }
        return copy.deepcopy(session)

    def expire(self, session_id: str) -> dict[str, Any]:
        """The session ran out unpaid; returns it as the expired webhook carries it."""
        session = self.sessions[session_id]
        session["status"] = "expired"
        session["url"] = None
        return copy.deepcopy(session)

    def refund_in_dashboard(self, payment_intent: str, *, amount: int | None = None) -> dict:
        """Someone refunded (part of) the payment in Stripe's dashboard; returns the refund."""
        params: dict[str, Any] = {"payment_intent": payment_intent}
        if amount is not None:
            params["amount"] = str(amount)
        body, status, _ = self._create_refund(params)
        assert status == 200, body
        return json.loads(body)

    def session(self, session_id: str) -> dict[str, Any]:
        return copy.deepcopy(self.sessions[session_id])

    def charge(self, payment_intent: str) -> dict[str, Any]:
        """The charge of a PaymentIntent as charge.* webhooks carry it."""
        return copy.deepcopy(self.charges[payment_intent])

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- the API ------------------------------------------------------------------------
    def _route(self, req: RecordedRequest) -> tuple[str, int, Any]:
        if req.method == "POST" and req.path == "/v1/checkout/sessions":
            return self._create_session(req.params)
        match = re.fullmatch(r"/v1/checkout/sessions/([^/]+)", req.path)
        if req.method == "GET" and match:
            found = self.sessions.get(match.group(1))
            if found is None:
                return self._missing("checkout.session", match.group(1))
            return self._ok(found)
        if req.method == "POST" and req.path == "/v1/refunds":
            return self._create_refund(req.params)
        return self._error(
            404,
            {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({req.method}: {req.path}).",
            },
        )

    def _create_session(self, params: dict[str, Any]) -> tuple[str, int, Any]:
        items = params.get("line_items") or []
        if params.get("mode") != "payment" or not items:
            return self._error(
                400,
                {"type": "invalid_request_error", "message": "Missing line_items or mode."},
            )
        currencies = {item["price_data"]["currency"] for item in items}
        if len(currencies) != 1:
            return self._error(
                400, {"type": "invalid_request_error", "message": "Currencies differ."}
            )
        now = int(time.time())
        expires_at = int(params.get("expires_at") or now + 24 * 3600)
        if not now + 30 * 60 <= expires_at <= now + 24 * 3600:
            return self._error(
                400,
                {
                    "type": "invalid_request_error",
                    "param": "expires_at",
                    "message": "The `expires_at` timestamp must be between 30 minutes and "
                    "24 hours from Checkout Session creation.",
                },
            )
        total = sum(
            int(item["quantity"]) * int(item["price_data"]["unit_amount"]) for item in items
        )
        session_id = "cs_test_" + secrets.token_urlsafe(40).replace("-", "a").replace("_", "b")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": currencies.pop(),
            "customer": None,
            "customer_details": None,
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": params.get("metadata") or {},
            "mode": "payment",
            "payment_intent": None,  # created when the buyer pays
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA",
        }
        self.sessions[session_id] = session
        return self._ok(session)

    def _create_refund(self, params: dict[str, Any]) -> tuple[str, int, Any]:
        pi = params.get("payment_intent", "")
        charge = self.charges.get(pi)
        if charge is None:
            return self._missing("payment_intent", pi)
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(params.get("amount") or left)
        if amount > left or amount <= 0:
            return self._error(
                400,
                {
                    "type": "invalid_request_error",
                    "code": "amount_too_large" if amount > left else "parameter_invalid_integer",
                    "param": "amount",
                    "message": f"Refund amount ({amount}) is greater than unrefunded amount "
                    f"on charge ({left})",
                },
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": _id("txn"),
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "metadata": params.get("metadata") or {},
            "payment_intent": pi,
            "reason": params.get("reason"),
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return self._ok(refund)

    def _ok(self, obj: dict[str, Any]) -> tuple[str, int, Any]:
        return json.dumps(obj), 200, _Headers({"Request-Id": _id("req")})

    def _missing(self, kind: str, ident: str) -> tuple[str, int, Any]:
        return self._error(
            404,
            {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such {kind}: '{ident}'",
            },
        )

    def _error(
        self, status: int, error: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[str, int, Any]:
        return (
            json.dumps({"error": error}),
            status,
            _Headers({"Request-Id": _id("req"), **(headers or {})}),
        )


def install(monkeypatch: Any) -> FakeStripeHTTP:
    """Route every Stripe API call of the app to a new fake, for one test."""
    fake = FakeStripeHTTP()
    monkeypatch.setattr("ticketing.payments.stripe.http_client_override", fake)
    return fake


def event_payload(
    event_type: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
) -> bytes:
    """A webhook body shaped like Stripe's snapshot events."""
    event = {
        "id": event_id or _id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created if created is not None else int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    return json.dumps(event, indent=2).encode()


def signature_header(payload: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: ``t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>``."""
    ts = int(time.time()) if timestamp is None else timestamp
    signed = f"{ts}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"
