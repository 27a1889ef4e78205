"""Forms of the campaign pages. They only parse input; rules live in campaigns.services."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from campaigns.models import HOLDOUT_MAX_PERCENT, SEED_MAX, Campaign
from customers.models import Store
from tagging.models import TagGroup


class CampaignForm(forms.Form):
    code = forms.SlugField(
        max_length=40, label=_("code"), help_text=_("Letters, digits, - and _; used in tags.")
    )
    name = forms.CharField(max_length=100, label=_("name"))
    kind = forms.ChoiceField(
        choices=Campaign.Kind.choices, label=_("kind"), initial=Campaign.Kind.OFFLINE
    )
    stores = forms.ModelMultipleChoiceField(
        queryset=Store.objects.none(),
        to_field_name="code",
        label=_("stores"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    starts_on = forms.DateField(
        label=_("starts on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_on = forms.DateField(label=_("ends on"), widget=forms.DateInput(attrs={"type": "date"}))
    goal = forms.CharField(
        label=_("goal"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    holdout_percent = forms.IntegerField(
        label=_("hold-out (%)"), min_value=0, max_value=HOLDOUT_MAX_PERCENT, initial=10
    )
    seed = forms.IntegerField(
        label=_("seed"),
        min_value=0,
        max_value=SEED_MAX,
        required=False,
        help_text=_("Leave empty for a random one."),
    )
    message_template = forms.CharField(
        label=_("message"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "{name} is replaced by the fan's name. Empty: the playbook message of the fan's segment."
        ),
    )

    def __init__(self, *args, stores=None, **kwargs):
        super().__init__(*args, **kwargs)
        if stores is not None:
            self.fields["stores"].queryset = stores

    def campaign_fields(self) -> dict[str, object]:
        """The valid input as `campaigns.services.create_campaign`'s keyword arguments."""
        data = dict(self.cleaned_data)
        data["store_codes"] = [store.code for store in data.pop("stores")]
        return data

    def add_service_errors(self, error: ValidationError) -> None:
        for field, errors in error.message_dict.items():
            self.add_error(field if field in self.fields else None, errors)


class CheckInForm(forms.Form):
    phone = forms.CharField(
        max_length=32,
        label=_("phone"),
        widget=forms.TextInput(
            attrs={"inputmode": "tel", "autocomplete": "off", "autofocus": True}
        ),
    )


def tag_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Every active tag as `group:code`, grouped for <optgroup> (two queries)."""
    groups = (
        TagGroup.objects.filter(is_active=True).prefetch_related("tags").order_by("order", "code")
    )
    choices = []
    for group in groups:
        tags = [(f"{group.code}:{tag.code}", tag.name) for tag in group.tags.all() if tag.is_active]
        if tags:
            choices.append((group.name, tags))
    return choices


class AudienceForm(forms.Form):
    """The audience builder: tags that must all match, of which any must match, and none."""

    all = forms.MultipleChoiceField(required=False, label=_("all of"))
    any = forms.MultipleChoiceField(required=False, label=_("any of"))
    none = forms.MultipleChoiceField(required=False, label=_("none of"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = tag_choices()
        for name in ("all", "any", "none"):
            self.fields[name].choices = choices
            self.fields[name].widget.attrs.update({"size": 8, "class": "select"})

    def audience(self) -> dict:
        return {key: list(self.cleaned_data.get(key) or []) for key in ("all", "any", "none")}
