"""The museum's processing activities and the recipients of personal data.

One purpose is one line of the record of processing (Art. 30 GDPR) and one section of the
public notice; several apps may serve the same purpose (a ticket sale uses orders,
payments and e-mails). Apps' ``privacy.py`` pick from here, so that two declarations of
one purpose cannot describe it in two ways. The security measures of the record are here
too: they describe the platform as built (see docs/staff-roles.md and museum/settings.py).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from privacy.declarations import Purpose, Recipient

# --- purposes -----------------------------------------------------------------------------

TICKET_SALES = Purpose(
    code="ticket_sales",
    title=_("Selling and delivering tickets"),
    description=_(
        "To sell you tickets (on the website, at the desk or through a reseller), send them "
        "to you by e-mail, let you find your order again, admit you at the entrance, and "
        "contact you when a visit changes or is cancelled, including to offer a refund."
    ),
    position=10,
)
PAYMENTS = Purpose(
    code="payments",
    title=_("Taking payments and refunding them"),
    description=_(
        "To take the payment of an order, match it with the payment provider's records, "
        "refund it when needed and keep the accounting records the law requires. Your card "
        "details are entered on the payment provider's page and never reach the museum."
    ),
    position=20,
)
MUSEUM_CARD = Purpose(
    code="museum_card",
    title=_("The personal museum card"),
    description=_(
        "To issue your personal museum card (or a card you give as a present), admit you "
        "with it, show you its validity and your own visits, and settle the visits with the "
        "museums. The museums receive only anonymous visit counts."
    ),
    position=30,
)
ACCOUNTS = Purpose(
    code="accounts",
    title=_("Your visitor account"),
    description=_(
        "An account is optional: buying without one is always possible. With an account you "
        "sign in with your e-mail address, see your orders and museum cards without typing "
        "them again, and manage your details and your newsletter choice."
    ),
    position=40,
)
NEWSLETTER = Purpose(
    code="newsletter",
    title=_("The newsletter"),
    description=_(
        "To send you the museum's newsletter if you asked for it, and to keep the proof of "
        "your consent and of its withdrawal. Consent is never a condition of a purchase; "
        "every letter has a link to unsubscribe."
    ),
    position=50,
)
SERVICE_EMAIL = Purpose(
    code="service_email",
    title=_("E-mails about the services you use"),
    description=_(
        "To send you the e-mails of a service you use (tickets, museum cards, your account) "
        "exactly once, and to know whether they were delivered."
    ),
    position=60,
)
PRIVACY_REQUESTS = Purpose(
    code="privacy_requests",
    title=_("Answering your requests about your data"),
    description=_(
        "To handle your requests to see, correct, erase or restrict your data or to close "
        "your account, and to be able to show that they were handled."
    ),
    position=70,
)
SECURITY = Purpose(
    code="security",
    title=_("Security of the website and of the staff's work"),
    description=_(
        "To keep you signed in, protect accounts and the staff's back office (second factor, "
        "limits on sign-in attempts), and keep a trail of who did what with money, tickets "
        "and personal data."
    ),
    position=80,
)
STAFF_WORK = Purpose(
    code="staff_work",
    title=_("Organising the staff's work"),
    description=_(
        "To know which staff member sold or admitted what and when, to settle disputes and "
        "prevent fraud at the desk and the entrance."
    ),
    position=90,
)
PARTNERS = Purpose(
    code="partners",
    title=_("Working with ticket resellers"),
    description=_(
        "To manage the contracts with the resellers who sell the museum's tickets in their "
        "own shops, and to reach their contact person."
    ),
    position=100,
)

# --- recipients ---------------------------------------------------------------------------

HOSTING = Recipient(
    code="hosting",
    name=_("The museum's hosting provider"),
    role=_("processor: runs the servers and the database"),
)
MAIL_PROVIDER = Recipient(
    code="mail_provider",
    name=_("The museum's e-mail delivery provider"),
    role=_("processor: delivers the e-mails the museum sends"),
)
STRIPE = Recipient(
    code="stripe",
    name=_("Stripe (online card payments)"),
    role=_("payment service provider: receives the order's code, amount and e-mail address"),
    transfer=_(
        "Stripe may process data in the United States, under the EU–US Data Privacy "
        "Framework and the European Commission's standard contractual clauses."
    ),
)
RESELLERS = Recipient(
    code="resellers",
    name=_("The reseller you bought from"),
    role=_("independent controller: sold you the tickets in its own shop"),
)
AUTHORITIES = Recipient(
    code="authorities",
    name=_("Tax authorities and auditors"),
    role=_("only when the law requires it, for the accounting records"),
)

# --- technical and organisational measures (Art. 30(1)(g), Art. 32) -----------------------

SECURITY_MEASURES = (
    _("Passwords are stored only as Argon2 hashes; card numbers never reach the museum."),
    _("Staff sign in with a second factor (an authenticator app) and their sign-ins are logged."),
    _("Staff groups give each role only the pages and data its work needs."),
    _("Actions on money, ticket validity and personal data are written to an audit trail."),
    _("Encrypted connections (HTTPS with HSTS) in production; secure, HTTP-only cookies."),
    _("Links to orders and cards carry unguessable secrets, never sequential numbers."),
    _("Rate limits on sign-in, checkout and order look-up."),
)
