"""Forms of the guide and manager pages: the fan filter, the profile edit, the guide transfer and
the Today tick.

Forms only parse input; the rules live in the services (`customers.services.update_customer`,
`customers.transfers.transfer_customers`), whose `ValidationError`s are shown next to the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.utils import ErrorDict
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Staff
from customers.phones import normalize_phone
from customers.schemas import (
    BIRTHDAY_FIELDS,
    FanIn,
    FanSchema,
    fan_form_input,
    posted_values,
    validate_input,
)
from fanops.vocabulary import Apple, Forecast, RfmSegment, RStage
from tagging.models import TagGroup
from web.filters import looks_like_phone
from web.selectors.fans import FanFilterOptions, FanFilters


def _blank(choices: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", _("any")), *choices]


class FanFilterForm(forms.Form):
    """My fans: search by name or phone tail, chips for apple, stage, segment and tags.

    Invalid values are ignored (the rest of the filter still applies), so a stale bookmark never
    breaks the page. With `allow_phone` (the POST search only) a full phone number in `q` becomes
    the `phone` filter and is left out of every link the page draws.
    """

    q = forms.CharField(required=False, max_length=50, label=_("Name or phone tail"))
    apple = forms.ChoiceField(required=False, choices=_blank(Apple.choices), label=_("apple"))
    stage = forms.ChoiceField(required=False, choices=_blank(RStage.choices), label=_("R stage"))
    segment = forms.ChoiceField(
        required=False, choices=_blank(RfmSegment.choices), label=_("RFM segment")
    )
    forecast = forms.ChoiceField(
        required=False, choices=_blank(Forecast.choices), label=_("forecast")
    )
    tag = forms.MultipleChoiceField(required=False, label=_("tags"))
    guide = forms.ChoiceField(required=False, label=_("guide"))
    all = forms.BooleanField(required=False, label=_("whole store"))
    sort = forms.ChoiceField(
        required=False, choices=[("", _("newest")), ("value", _("12-month value"))]
    )

    def __init__(
        self, data=None, *, options: FanFilterOptions | None = None, allow_phone=False, **kwargs
    ):
        super().__init__(data, **kwargs)
        options = options or FanFilterOptions()
        self.fields["tag"].choices = options.tag_choices()
        self.fields["guide"].choices = _blank(
            (g.work_number, g.name if g.is_active else f"{g.name} ({_('leaving')})")
            for g in options.guides
        )
        self.allow_phone = allow_phone
        self.full_clean()

    def clean(self):
        data = super().clean()
        data["phone"] = ""
        if self.allow_phone and looks_like_phone(data.get("q") or ""):
            try:
                data["phone"] = normalize_phone(data["q"])
            except ValidationError:
                pass  # not a mobile number: searched as a name, matching nobody
            else:
                data["q"] = ""
        return data

    def value(self, name: str):
        return self.cleaned_data.get(name) or ("" if name != "tag" else [])

    def filters(self) -> FanFilters:
        """The valid filters as plain data for the page selectors."""
        data = self.cleaned_data
        return FanFilters(
            q=(data.get("q") or "").strip(),
            phone=data.get("phone") or "",
            apple=data.get("apple") or "",
            stage=data.get("stage") or "",
            segment=data.get("segment") or "",
            forecast=data.get("forecast") or "",
            tags=tuple(data.get("tag") or ()),
            guide=data.get("guide") or "",
            whole_store=bool(data.get("all")),
            by_value=data.get("sort") == "value",
        )

    def params(self) -> dict[str, object]:
        """The valid filters as query parameters (for chip links, paging and exports).

        A `q` that looks like (part of) a phone number is never put in a link: links are URLs.
        """
        out: dict[str, object] = {}
        for name in ("q", "apple", "stage", "segment", "forecast", "guide", "sort"):
            if self.cleaned_data.get(name):
                out[name] = self.cleaned_data[name]
        if looks_like_phone(str(out.get("q", ""))):
            del out["q"]
        if self.cleaned_data.get("all"):
            out["all"] = "1"
        if self.cleaned_data.get("tag"):
            out["tag"] = list(self.cleaned_data["tag"])
        return out

    def query(self, **overrides) -> str:
        params = {**self.params(), **overrides}
        params = {key: value for key, value in params.items() if value not in ("", None, [])}
        return urlencode(params, doseq=True)

    def toggled(self, name: str, value: str) -> str:
        """Query string with `name=value` switched on (or off when it already is)."""
        if name == "tag":
            tags = list(self.cleaned_data.get("tag") or [])
            tags = [t for t in tags if t != value] if value in tags else [*tags, value]
            return self.query(tag=tags)
        current = self.cleaned_data.get(name)
        return self.query(**{name: "" if current == value else value})

    def link_context(self, taxonomy: list[TagGroup]) -> dict[str, object]:
        """What the page draws from the filter: the form, its chips and their links."""
        whole_store = bool(self.cleaned_data.get("all"))
        return {
            "form": self,
            "current": self.cleaned_data,
            "chips": self.chips(),
            "tag_chips": self.tag_chips(taxonomy),
            "query": self.query(),
            "scope_all": whole_store,
            "scope_toggle": self.query(all="" if whole_store else "1"),
        }

    def chips(self) -> dict[str, list[tuple[str, str, str, bool]]]:
        """(value, label, link query, on) per apple, stage and segment chip."""
        return {
            name: [
                (value, label, self.toggled(name, value), self.value(name) == value)
                for value, label in choices
            ]
            for name, choices in (
                ("apple", Apple.choices),
                ("stage", RStage.choices),
                ("segment", RfmSegment.choices),
                ("forecast", Forecast.choices),
                ("sort", [("value", _("highest 12-month value first"))]),
            )
        }

    def tag_chips(self, taxonomy: list[TagGroup]) -> list[tuple[TagGroup, list[tuple]]]:
        """Per manual group: (ref, name, link query, on) for each of its tags."""
        return [
            (
                group,
                [
                    (ref, t.name, self.toggled("tag", ref), ref in self.value("tag"))
                    for t in group.tags.all()
                    for ref in [f"{group.code}:{t.code}"]
                ],
            )
            for group in taxonomy
        ]


class ProfileForm(forms.Form):
    """The fan card's profile; seed 000's five required fields come first.

    The fields render and read the input; the fan schema (`customers.schemas.FanSchema`, the one
    every door uses) checks it, and `changes()` is its `FanIn` for `update_customer`.
    """

    consumption_notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label=_("consumption notes")
    )
    birth_calendar = forms.ChoiceField(
        required=False, choices=_blank(Customer.Calendar.choices), label=_("birthday calendar")
    )
    birth_year = forms.IntegerField(required=False, label=_("birth year"))
    birth_month = forms.IntegerField(required=False, label=_("birth month"))
    birth_day = forms.IntegerField(required=False, label=_("birth day"))
    birth_is_leap_month = forms.BooleanField(required=False, label=_("leap month"))
    body_shape = forms.CharField(required=False, max_length=30, label=_("body shape"))
    height_cm = forms.IntegerField(required=False, label=_("height (cm)"))
    skin_tone = forms.CharField(required=False, max_length=30, label=_("skin tone"))
    name = forms.CharField(max_length=50, label=_("name"))
    phone = forms.CharField(max_length=20, label=_("phone"))
    gender = forms.ChoiceField(
        required=False, choices=_blank(Customer.Gender.choices), label=_("gender")
    )
    city = forms.CharField(required=False, max_length=50, label=_("city"))
    latitude = forms.DecimalField(required=False, label=_("latitude"))
    longitude = forms.DecimalField(required=False, label=_("longitude"))
    weight_kg = forms.DecimalField(required=False, label=_("weight (kg)"))
    top_size = forms.CharField(required=False, max_length=10, label=_("top size"))
    bottom_size = forms.CharField(required=False, max_length=10, label=_("bottom size"))
    shoe_size = forms.CharField(required=False, max_length=10, label=_("shoe size"))
    favourite_colours = forms.CharField(
        required=False, max_length=100, label=_("favourite colours")
    )
    wechat_remark = forms.CharField(
        required=False,
        max_length=64,
        label=_("WeChat remark"),
        help_text=_("The remark name the fan has in your WeChat now."),
    )
    notes = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label=_("notes")
    )
    do_not_contact = forms.BooleanField(required=False, label=_("do not contact"))
    is_opinion_leader = forms.BooleanField(required=False, label=_("opinion leader"))

    BIRTHDAY_FIELDS = BIRTHDAY_FIELDS

    TEXT_FIELDS = (
        "consumption_notes", "body_shape", "skin_tone", "name", "phone", "gender", "city",
        "top_size", "bottom_size", "shoe_size", "favourite_colours", "wechat_remark", "notes",
    )  # fmt: skip
    NUMBER_FIELDS = ("height_cm", "latitude", "longitude", "weight_kg")

    def __init__(self, *args, can_mark_leader: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_mark_leader:
            del self.fields["is_opinion_leader"]
        self.birthday_errors: list[str] = []
        self.fan_in: FanIn | None = None

    @classmethod
    def initial_for(cls, customer: Customer) -> dict[str, object]:
        return {name: getattr(customer, name) for name in cls.base_fields}

    @classmethod
    def schema_input(cls, raw: dict[str, object]) -> dict[str, object]:
        """The posted form as the fan schema's input: every field shown is a change."""
        flags = ("do_not_contact", "is_opinion_leader")
        return fan_form_input(raw, texts=cls.TEXT_FIELDS, numbers=cls.NUMBER_FIELDS, flags=flags)

    def full_clean(self) -> None:
        """The schema validates (one place per rule); its errors are shown next to the fields."""
        self._errors = ErrorDict()
        self.cleaned_data = {}
        if not self.is_bound:
            return
        raw = posted_values(self)
        self.cleaned_data = dict(raw)
        try:
            self.fan_in = validate_input(FanSchema(partial=True), self.schema_input(raw))
        except ValidationError as exc:
            self.add_service_errors(exc)

    def changes(self) -> FanIn | None:
        return self.fan_in

    def add_service_errors(self, error: ValidationError) -> None:
        """Show a service's errors next to their fields (birthday errors beside the birthday)."""
        for key, messages in error.message_dict.items():
            if key == "birthday" or key.startswith("birth"):
                self.birthday_errors.extend(messages)
            elif key in self.fields:
                for message in messages:
                    self.add_error(key, message)
            else:
                for message in messages:
                    self.add_error(None, message)

    @property
    def required_fields(self):
        return [
            self[name] for name in ("consumption_notes", "body_shape", "height_cm", "skin_tone")
        ]

    @property
    def birthday_fields(self):
        return [self[name] for name in self.BIRTHDAY_FIELDS]

    @property
    def other_fields(self):
        skip = {"consumption_notes", "body_shape", "height_cm", "skin_tone", *self.BIRTHDAY_FIELDS}
        return [field for field in self if field.name not in skip]


class TransferForm(forms.Form):
    """Hand all or some fans of one guide to another guide of the same store."""

    from_guide = forms.ModelChoiceField(queryset=Staff.objects.none(), label=_("from guide"))
    to_guide = forms.ModelChoiceField(queryset=Staff.objects.none(), label=_("to guide"))
    customers = forms.CharField(
        required=False,
        label=_("fans (ids, empty for all)"),
        help_text=_("Leave empty to move every fan of the guide."),
    )

    def __init__(self, *args, staff_queryset: QuerySet[Staff], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_guide"].queryset = staff_queryset
        self.fields["to_guide"].queryset = staff_queryset.filter(is_active=True)

    def clean_customers(self) -> list[int]:
        # Ticked rows send one `customers` value each; the text field sends "1, 2, 3".
        raw = " ".join(self.data.getlist("customers")) if hasattr(self.data, "getlist") else ""
        ids = []
        for part in raw.replace(",", " ").split():
            if not part.isdigit():
                raise ValidationError(_("Give fan ids as numbers separated by commas."))
            ids.append(int(part))
        return ids

    def clean(self):
        data = super().clean()
        if (
            data.get("from_guide")
            and data.get("to_guide")
            and data["from_guide"] == data["to_guide"]
        ):
            self.add_error("to_guide", _("Choose a different guide."))
        return data

    def add_service_errors(self, error: ValidationError) -> None:
        """Show `transfer_customers`' errors next to their fields (the rest above the form)."""
        for field, messages in error.message_dict.items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
