"""Start-up checks: a feature switched on but not configured stops the process clearly."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = "import django; django.setup(); from django.conf import settings; print(settings.PAYMENT_PROVIDER)"


def _env(**values: str | None) -> dict[str, str]:
    """A bare environment: only what the test names (None removes it), plus Python's needs."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env["DJANGO_SETTINGS_MODULE"] = "museum.settings"
    env["DATABASE_URL"] = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/museum"
    )
    env.update(values)
    return {key: value for key, value in env.items() if value is not None}


def _run(args: list[str], **env: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production(**extra: str) -> dict[str, str]:
    return {
        "MUSEUM_PRODUCTION": "true",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "museum.example",
        **extra,
    }


def test_the_embedded_defaults_start_with_the_demo_provider():
    result = _run(["-c", SETUP], DATABASE_URL=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "demo"


def test_a_stripe_key_without_the_webhook_secret_stops_start_up():
    result = _run(["-c", SETUP], STRIPE_SECRET_KEY="sk_test_123")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "STRIPE_WEBHOOK_SECRET" in result.stderr


def test_a_webhook_secret_without_the_stripe_key_stops_start_up():
    result = _run(["-c", SETUP], STRIPE_WEBHOOK_SECRET="whsec_123")
    assert result.returncode != 0
    assert "STRIPE_SECRET_KEY" in result.stderr


def test_production_without_a_secret_key_stops_start_up():
    env = _production(MUSEUM_ALLOW_DEMO_PAYMENTS="true")
    del env["DJANGO_SECRET_KEY"]
    result = _run(["-c", SETUP], **env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_without_payment_configuration_stops_start_up():
    result = _run(["-c", SETUP], **_production())
    assert result.returncode != 0
    assert "MUSEUM_ALLOW_DEMO_PAYMENTS" in result.stderr
    assert "STRIPE_SECRET_KEY" in result.stderr


def test_production_with_demo_payments_explicitly_allowed_starts():
    result = _run(["-c", SETUP], **_production(MUSEUM_ALLOW_DEMO_PAYMENTS="true"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "demo"


def test_an_email_provider_without_its_key_stops_start_up():
    result = _run(["-c", SETUP], EMAIL_PROVIDER="postmark")
    assert result.returncode != 0
    assert "POSTMARK_SERVER_TOKEN" in result.stderr


def test_an_email_provider_without_a_webhook_secret_stops_start_up():
    result = _run(["-c", SETUP], EMAIL_PROVIDER="postmark", POSTMARK_SERVER_TOKEN="pm-token")
    assert result.returncode != 0
    assert "ANYMAIL_WEBHOOK_SECRET" in result.stderr
    assert "POSTMARK_SERVER_TOKEN" not in result.stderr.split("needs")[-1]


def test_an_email_provider_with_its_key_and_webhook_secret_starts():
    result = _run(
        ["-c", SETUP],
        EMAIL_PROVIDER="postmark",
        POSTMARK_SERVER_TOKEN="pm-token",
        ANYMAIL_WEBHOOK_SECRET="user:pass",
    )
    assert result.returncode == 0, result.stderr


def test_an_unknown_email_provider_stops_start_up():
    result = _run(["-c", SETUP], EMAIL_PROVIDER="carrier-pigeon")
    assert result.returncode != 0
    assert "carrier-pigeon" in result.stderr


@pytest.mark.parametrize("extra", [{}, {"REDIS_URL": "redis://127.0.0.1:6379/11"}])
def test_the_deployment_checks_pass_in_production(extra):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **_production(MUSEUM_ALLOW_DEMO_PAYMENTS="true", **extra),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
