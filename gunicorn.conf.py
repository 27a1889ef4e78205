"""Gunicorn settings (read from the working directory; the Dockerfile and docker-compose.yml
name it too). Its error and access logs go through fanops.logging's phone mask: an access line
holds the query string (`/fans/?q=…`)."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = 60
accesslog = "-"

_HANDLER = {"class": "logging.StreamHandler", "formatter": "generic", "filters": ["mask_phones"]}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_phones": {"()": "fanops.logging.MaskPhoneFilter"}},
    "formatters": {
        "generic": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
            "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
        },
        "access": {"format": "%(message)s"},
    },
    "handlers": {
        "error_console": {**_HANDLER, "stream": "ext://sys.stderr"},
        "access_console": {**_HANDLER, "formatter": "access", "stream": "ext://sys.stdout"},
    },
    "root": {"level": "INFO", "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access_console"], "propagate": False},
    },
}
