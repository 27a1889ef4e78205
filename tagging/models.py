"""The company's one tag vocabulary (seed 001): groups, tags, who carries which manual tag."""

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from fanops.db import TimestampedModel


class LocalizedNameMixin:
    name_zh: str
    name_en: str

    @property
    def name(self) -> str:
        """The display name in the active language (中文 first)."""
        if (get_language() or "zh-hans").startswith("en") and self.name_en:
            return self.name_en
        return self.name_zh


class TagGroup(LocalizedNameMixin, TimestampedModel):
    class Kind(models.TextChoices):
        MANUAL = "manual", _("manual")  # guides pick, HQ defines
        COMPUTED = "computed", _("computed")  # written by the relabel job / fact labels
        EVENT = "event", _("event")  # written by campaigns (participated:/transacted:)

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (中文)"), max_length=50)
    name_en = models.CharField(_("name (English)"), max_length=50, blank=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.MANUAL)
    is_multi = models.BooleanField(_("multiple choice"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")

    def __str__(self) -> str:
        return f"{self.code} {self.name_zh}"

    @property
    def is_computed(self) -> bool:
        return self.kind != self.Kind.MANUAL

    @property
    def is_single_choice(self) -> bool:
        return not self.is_multi


class Tag(LocalizedNameMixin, TimestampedModel):
    group = models.ForeignKey(
        TagGroup, on_delete=models.PROTECT, related_name="tags", verbose_name=_("group")
    )
    code = models.SlugField(_("code"), max_length=64)
    name_zh = models.CharField(_("name (中文)"), max_length=50)
    name_en = models.CharField(_("name (English)"), max_length=50, blank=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Retired tags keep their history.")
    )

    class Meta:
        ordering = ["group__order", "order", "code"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [
            models.UniqueConstraint(fields=["group", "code"], name="tag_code_unique_per_group")
        ]

    def __str__(self) -> str:
        return f"{self.group.code}:{self.code}"


class CustomerTag(models.Model):
    """A manual or event tag a fan carries now (computed labels live in segmentation)."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="customer_tags"
    )
    tag = models.ForeignKey(Tag, on_delete=models.PROTECT, related_name="customer_tags")
    tagged_by = models.ForeignKey(
        "customers.Staff", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "tag"], name="customer_tag_unique")
        ]
        indexes = [models.Index(fields=["tag", "customer"], name="customer_tag_tag_customer_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.tag_id}"


class TagChange(models.Model):
    """History: who added or removed which tag on which fan, and when."""

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="tag_changes"
    )
    tag = models.ForeignKey(Tag, on_delete=models.PROTECT, related_name="+")
    added = models.BooleanField()
    changed_by = models.ForeignKey(
        "customers.Staff", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["customer", "changed_at"], name="tag_change_customer_idx")]

    def __str__(self) -> str:
        return f"{'+' if self.added else '-'}{self.tag_id} on {self.customer_id}"
