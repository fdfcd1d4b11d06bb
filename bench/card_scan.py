"""Museum card check-ins through the entrance page: card_scan_per_s (run by bench/run.py).

    python bench/card_scan.py seed    -> JSON: ushers (e-mail, password, TOTP secret), cards
    python bench/card_scan.py count   -> JSON: card visits recorded, cards activated

`seed` (bench environment, after `load_demo`) creates one usher per scanner in the
"Guard office" group, each with a verified e-mail and an authenticator app (staff need a
second factor for the check-in page), and CARDS museum cards sold at the desk (no e-mail,
so nothing is queued); nine in ten are started by a first visit during the seed (as at a
real door, most cards were used before), one in ten waits for its first scan.

`measure(port=...)` is the load: SCANNERS ushers sign in over HTTP like a person (allauth's
sign-in page, then the TOTP code), open /check-in/ for the CSRF token, then POST card codes
(the QR secret) with the site for a fixed time, each usher through their own share of
the cards (each card once). A scan counts when the answer is 200 and says VALID CARD.
Afterwards the database must hold exactly one new visit per counted scan
(card_scan_visits_extra = new visits - counted scans, target 0).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import re
import struct
import sys
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

HOST = "127.0.0.1"
SCANNERS = 16
PROCESSES = 4
CARDS = 1600
DURATION_S = 15
SITE_SLUG = "main"  # cards may start there (the demo's harbour site refuses first visits)
PASSWORD = "Bench-usher-password-2026"
VALID_MARK = b"VALID CARD"


# --- seeding (bench environment, in-process Django) -----------------------------------------


def _django() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum.settings")
    import django

    django.setup()


def seed() -> dict:
    _django()
    import secrets

    from allauth.account.models import EmailAddress
    from allauth.mfa.totp.internal.auth import TOTP
    from django.contrib.auth.models import Group

    from accounts.models import CardProduct, MuseumCard, User
    from accounts.services.card_scans import card_scan
    from accounts.services.cards import card_order_place
    from museum.models import Site
    from ticketing.models import Order

    site = Site.objects.get(slug=SITE_SLUG)
    guard = Group.objects.get(name="Guard office")
    ushers = []
    for index in range(SCANNERS):
        email = f"usher{index}@bench.example"
        user = User.objects.create_user(email=email, password=PASSWORD, is_staff=True)
        user.groups.add(guard)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        secret = base64.b32encode(secrets.token_bytes(20)).decode()
        TOTP.activate(user, secret)
        ushers.append({"email": email, "password": PASSWORD, "totp": secret})
    product = CardProduct.objects.filter(is_active=True).order_by("pk").first()
    for index in range(CARDS):
        card_order_place(
            product=product,
            holder_name=f"Bench holder {index}",
            holder_email="",
            language="en",
            channel=Order.Channel.DESK,
            payment_method=Order.PaymentMethod.CASH,
        )
    codes = list(
        MuseumCard.objects.filter(status=MuseumCard.Status.NOT_ACTIVATED)
        .order_by("pk")
        .values_list("secret", flat=True)
    )
    # Most cards at a museum's door were started on an earlier visit; one in ten is new.
    for index, code in enumerate(codes):
        if index % 10:
            card_scan(code=code, site=site, gate="seed")
    return {"site_id": site.pk, "ushers": ushers, "codes": codes, "visits_before": count()}


def count() -> dict:
    from accounts.models import CardVisit, MuseumCard

    return {
        "visits": CardVisit.objects.count(),
        "active": MuseumCard.objects.filter(status=MuseumCard.Status.ACTIVE).count(),
    }


# --- the HTTP side (no Django) --------------------------------------------------------------


def totp_code(secret: str, at: float | None = None) -> str:
    """RFC 6238: SHA-1, 30-second steps, 6 digits (what allauth's TOTP expects)."""
    key = base64.b32decode(secret)
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class Browser:
    """One keep-alive connection with a cookie jar: enough for Django's forms."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, bytes]:
        headers = {"Host": f"{HOST}:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://{HOST}:{self.port}{path}"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        content = response.read()
        for header in response.msg.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value
        return response.status, response.getheader("Location") or "", content

    def csrf(self) -> str:
        return self.cookies["csrftoken"]

    def close(self) -> None:
        self.conn.close()


def sign_in(browser: Browser, usher: dict) -> None:
    """allauth's sign-in page, then its second-factor page; raises if not signed in."""
    status, _, _ = browser.request("GET", "/accounts/login/")
    assert status == 200, f"login page answered {status}"
    status, location, _ = browser.request(
        "POST",
        "/accounts/login/",
        {
            "csrfmiddlewaretoken": browser.csrf(),
            "login": usher["email"],
            "password": usher["password"],
        },
    )
    assert status == 302, f"sign-in answered {status}"
    if "2fa" in location:
        left = 30 - time.time() % 30
        if left < 2:
            time.sleep(left + 0.1)
        status, location, _ = browser.request(
            "POST",
            location,
            {"csrfmiddlewaretoken": browser.csrf(), "code": totp_code(usher["totp"])},
        )
        assert status == 302, f"second factor answered {status}"
    status, _, page = browser.request("GET", "/check-in/")
    assert status == 200, f"check-in page answered {status} after signing in"
    assert b'name="site"' in page


def _scanner(port, usher, codes, site_id, gate, start_at, deadline, out, lock) -> None:
    browser = Browser(port)
    local: dict = {"valid": 0, "other": {}, "errors": 0, "latencies": [], "ended_at": 0.0}
    try:
        try:
            sign_in(browser, usher)
        except (AssertionError, KeyError, OSError, http.client.HTTPException) as exc:
            local["other"][f"sign-in failed: {exc!r}"] = 1
            return
        time.sleep(max(0.0, start_at - time.time()))
        index = 0
        while time.time() < deadline:
            form = {
                "csrfmiddlewaretoken": browser.csrf(),
                "code": codes[index % len(codes)],
                "gate": gate,
                "site": site_id,
            }
            index += 1
            started = time.perf_counter()
            try:
                status, _, body = browser.request("POST", "/check-in/", form)
            except (OSError, http.client.HTTPException):
                local["errors"] += 1
                browser.close()
                browser.conn = http.client.HTTPConnection(HOST, port, timeout=30)
                continue
            local["latencies"].append((time.perf_counter() - started) * 1000)
            local["ended_at"] = time.time()
            if status == 200 and VALID_MARK in body:
                local["valid"] += 1
            else:
                found = re.search(rb'class="big">([^<]*)<', body)
                label = f"{status} {found.group(1).decode() if found else ''}".strip()
                local["other"][label] = local["other"].get(label, 0) + 1
    finally:
        browser.close()
        with lock:
            out["valid"] += local["valid"]
            out["errors"] += local["errors"]
            out["latencies"] += local["latencies"]
            out["ended_at"] = max(out["ended_at"], local["ended_at"])
            for label, n in local["other"].items():
                out["other"][label] = out["other"].get(label, 0) + n


def _process(args: tuple) -> dict:
    port, jobs, site_id, start_at, deadline = args
    out: dict = {"valid": 0, "other": {}, "errors": 0, "latencies": [], "ended_at": 0.0}
    lock = threading.Lock()
    threads = [
        threading.Thread(
            target=_scanner,
            args=(port, usher, codes, site_id, gate, start_at, deadline, out, lock),
        )
        for usher, codes, gate in jobs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def measure(*, port: int, seed_data: dict, duration_s: float = DURATION_S) -> dict:
    """SCANNERS ushers scan cards for ``duration_s``; returns counts and latencies."""
    ushers, codes = seed_data["ushers"], seed_data["codes"]
    share = len(codes) // len(ushers)
    jobs = [
        (usher, codes[i * share : (i + 1) * share], f"Gate {i + 1}")
        for i, usher in enumerate(ushers)
    ]
    # Signing in costs a password hash each; the scans start together afterwards.
    start_at = time.time() + 8
    deadline = start_at + duration_s
    per_process = [jobs[i::PROCESSES] for i in range(PROCESSES)]
    merged: dict = {"valid": 0, "other": {}, "errors": 0, "latencies": [], "ended_at": 0.0}
    with multiprocessing.get_context("fork").Pool(PROCESSES) as pool:
        for result in pool.map(
            _process,
            [(port, chunk, seed_data["site_id"], start_at, deadline) for chunk in per_process],
        ):
            merged["valid"] += result["valid"]
            merged["errors"] += result["errors"]
            merged["latencies"] += result["latencies"]
            merged["ended_at"] = max(merged["ended_at"], result["ended_at"])
            for label, n in result["other"].items():
                merged["other"][label] = merged["other"].get(label, 0) + n
    # Scans still in flight at the deadline finish after it: count the time they took.
    merged["elapsed_s"] = max(duration_s, merged["ended_at"] - start_at)
    return merged


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        print(json.dumps(seed()))
    elif sys.argv[1:2] == ["count"]:
        _django()
        print(json.dumps(count()))
    else:
        raise SystemExit(__doc__)
