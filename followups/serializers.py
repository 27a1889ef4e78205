"""Answers of the follow-up endpoints."""

from __future__ import annotations

from rest_framework import serializers

from campaigns.models import Contact
from followups.models import FollowUp


class FollowUpSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id")
    customer_name = serializers.CharField(source="customer.name")
    guide = serializers.CharField(source="guide.work_number", default=None)
    store = serializers.CharField(source="store.code")

    class Meta:
        model = FollowUp
        fields = [
            "id", "customer", "customer_name", "guide", "store", "reason", "occasion", "due_on",
            "status", "snoozed_until", "skip_reason", "message", "is_holdout", "completed_at",
            "channel", "reached", "note",
        ]  # fmt: skip
        read_only_fields = fields


class ContactSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id")
    staff = serializers.CharField(source="staff.work_number", default=None)
    campaign = serializers.CharField(source="campaign.code", default=None)

    class Meta:
        model = Contact
        fields = [
            "id",
            "customer",
            "staff",
            "channel",
            "source",
            "campaign",
            "contacted_at",
            "note",
        ]
        read_only_fields = fields
