# syntax=docker/dockerfile:1.7
# One image for the three processes of the museum: web (gunicorn), worker and beat
# (Celery). The first argument of the container picks the process: web | worker | beat;
# anything else is run as a command (e.g. `python manage.py createsuperuser`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# WeasyPrint (the tickets' PDF) needs Pango and HarfBuzz and at least one font;
# gettext compiles the translations at build time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core gettext \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them. The project lists
# no importable packages (setuptools `packages = []`): `pip install .` installs only the
# pinned dependencies and the code runs from /app.
COPY pyproject.toml constraints.txt README.md ./
RUN pip install -c constraints.txt .

COPY . .

# Static files and translations are built into the image. The settings refuse to load
# in production shape without a secret key and a payment provider; these values exist
# only for this build step and are not kept in the image's environment.
RUN MUSEUM_PRODUCTION=true \
    DJANGO_SECRET_KEY=build-time-only-not-a-secret \
    MUSEUM_ALLOW_DEMO_PAYMENTS=true \
    sh -c 'python manage.py collectstatic --noinput && python manage.py compilemessages --ignore=.venv'

COPY --chmod=0755 <<'EOF_ENTRYPOINT' /usr/local/bin/museum-entrypoint
#!/bin/sh
set -e
case "$1" in
  web)
    # With several web containers, run the migrations once elsewhere and set
    # MUSEUM_MIGRATE_ON_START=false on the web containers.
    if [ "${MUSEUM_MIGRATE_ON_START:-true}" = "true" ]; then
      python manage.py migrate --noinput
    fi
    exec gunicorn museum.wsgi:application \
      --bind 0.0.0.0:8000 \
      --workers "${WEB_CONCURRENCY:-3}" \
      --timeout "${GUNICORN_TIMEOUT:-60}" \
      --access-logfile - --error-logfile -
    ;;
  worker)
    exec celery -A museum worker --loglevel "${LOG_LEVEL:-INFO}" --concurrency "${CELERY_CONCURRENCY:-4}"
    ;;
  beat)
    # Exactly one beat per deployment: it only schedules, the workers do the work.
    exec celery -A museum beat --loglevel "${LOG_LEVEL:-INFO}" --schedule /tmp/celerybeat-schedule
    ;;
  *)
    exec "$@"
    ;;
esac
EOF_ENTRYPOINT

RUN useradd --create-home --uid 10001 --user-group museum
USER museum

EXPOSE 8000
ENTRYPOINT ["museum-entrypoint"]
CMD ["web"]
