"""Start-up checks: the declarations are sound, and every suspect field is declared.

A broken declaration (a field renamed, a link that no longer resolves) is an error: the
notice and the erasure would silently miss data. An undeclared field is a warning here
(``manage.py check`` tells the developer at once) and a failure in the test suite
(tests/privacy/test_coverage.py).
"""

from __future__ import annotations

from django.apps import apps
from django.core import checks

from privacy.coverage import undeclared_fields
from privacy.registry import registry


@checks.register("privacy")
def declarations_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = [
        checks.Error(problem, hint="See privacy/registry.py.", id="privacy.E001")
        for problem in registry.problems()
    ]
    missing = undeclared_fields(registry, apps.get_models())
    if missing:
        messages.append(
            checks.Warning(
                "Fields that may hold personal data are not declared: " + ", ".join(missing),
                hint="Declare them in the app's privacy.py (register or not_personal).",
                id="privacy.W001",
            )
        )
    return messages
