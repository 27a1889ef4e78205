# One image for web (gunicorn), worker and beat (Celery); see docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 fanops

WORKDIR /app
# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN pip install .
COPY . .

# Translations and static files are built into the image (whitenoise serves them).
RUN python manage.py compilemessages --ignore=.venv \
    && DEBUG=0 SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput \
    && chown -R fanops:fanops /app

USER fanops
EXPOSE 8000
# Bind, workers, timeout and the phone-masking access log: gunicorn.conf.py.
CMD ["gunicorn", "fanops.wsgi:application", "--config", "gunicorn.conf.py"]
