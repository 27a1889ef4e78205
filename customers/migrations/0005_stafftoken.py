"""Staff API tokens stored as a SHA-256 with an expiry (issue 12 item 9).

DRF's authtoken kept each key in plain text and forever: each existing key moves to a hashed
StaffToken (it keeps working until it expires, STAFF_TOKEN_DAYS from now) and its plain row is
deleted.
"""

import hashlib
from datetime import timedelta

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

AUTHTOKEN = "rest_framework.authtoken" in settings.INSTALLED_APPS


def hash_plain_tokens(apps, schema_editor):
    if not AUTHTOKEN:
        return
    Token = apps.get_model("authtoken", "Token")
    StaffToken = apps.get_model("customers", "StaffToken")
    expires_at = timezone.now() + timedelta(days=getattr(settings, "STAFF_TOKEN_DAYS", 30))
    StaffToken.objects.bulk_create(
        StaffToken(
            user_id=user_id,
            key_hash=hashlib.sha256(key.encode()).hexdigest(),
            key_prefix=key[:8],
            expires_at=expires_at,
        )
        for key, user_id in Token.objects.values_list("key", "user_id")
    )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("customers", "0004_customerlabels"),
        *([("authtoken", "0004_alter_tokenproxy_options")] if AUTHTOKEN else []),
    ]

    operations = [
        migrations.CreateModel(
            name="StaffToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("key_hash", models.CharField(editable=False, max_length=64, unique=True)),
                ("key_prefix", models.CharField(editable=False, max_length=8, verbose_name="key prefix")),
                ("expires_at", models.DateTimeField(verbose_name="expires at")),
                ("last_used_at", models.DateTimeField(blank=True, null=True, verbose_name="last used")),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "staff API token",
                "verbose_name_plural": "staff API tokens",
                "indexes": [models.Index(fields=["user", "expires_at"], name="staff_token_user_expiry_idx")],
            },
        ),
        migrations.RunPython(hash_plain_tokens, migrations.RunPython.noop),
    ]
