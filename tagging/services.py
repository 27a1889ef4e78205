"""Writes on the tag vocabulary.

Use cases:
- change_tags: a guide adds/removes manual tags on one fan.
- bulk_change_tags: the same for up to settings.API_BULK_TAG_MAX_CUSTOMERS fans in a constant
  number of queries.

A change is a `tagging.schemas.TagChange`; given as `add`/`remove` lists instead (the fan card's
chips), it goes through the same `TagChangeSchema` first.
- event_tags / add_event_tag: campaigns mark who took part in / bought at an event.

Computed groups (apple, rfm_segment, zodiac, …) are written by the relabel job and the fact
labels, never here; event groups only through add_event_tag. Every change is kept in TagChange.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Staff
from customers.schemas import validate_input
from tagging.models import CustomerTag, Tag, TagGroup
from tagging.schemas import TagChange, TagChangeSchema, split_ref

PARTICIPATED = "participated"
TRANSACTED = "transacted"


def resolve_tags(refs: Iterable[str]) -> dict[str, Tag]:
    """Map each "group:code" to its Tag (one query); ValidationError naming the unknown ones."""
    refs = list(dict.fromkeys(refs))
    if not refs:
        return {}
    pairs = [split_ref(ref) for ref in refs]
    condition = Q()
    for group, code in pairs:
        condition |= Q(group__code=group, code=code)
    found = {
        f"{t.group.code}:{t.code}": t for t in Tag.objects.select_related("group").filter(condition)
    }
    unknown = [ref for ref, (g, c) in zip(refs, pairs, strict=True) if f"{g}:{c}" not in found]
    if unknown:
        raise ValidationError(
            _("Unknown tag: %(tags)s.") % {"tags": ", ".join(unknown)}, code="unknown_tag"
        )
    return {ref: found[f"{g}:{c}"] for ref, (g, c) in zip(refs, pairs, strict=True)}


def _check_manual(tags: Iterable[Tag], *, adding: bool) -> None:
    for tag in tags:
        ref = f"{tag.group.code}:{tag.code}"
        if tag.group.kind != TagGroup.Kind.MANUAL:
            raise ValidationError(
                _("%(tag)s is computed and cannot be set by hand.") % {"tag": ref},
                code="computed_tag",
            )
        if adding and not (tag.is_active and tag.group.is_active):
            raise ValidationError(_("%(tag)s is retired.") % {"tag": ref}, code="retired_tag")


# -- set-based inserts: one statement whatever the number of rows (SQLite would otherwise batch
# bulk_create by 999 parameters, so the query count would grow with the fans).


def _insert_customer_tags(pairs: Sequence[tuple[int, int]], *, by_id: int | None, now) -> None:
    if not pairs:
        return
    now_db = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "INSERT INTO tagging_customertag (customer_id, tag_id, tagged_by_id, tagged_at)"
                " SELECT x.c, x.t, %s, %s FROM unnest(%s::bigint[], %s::bigint[]) AS x(c, t)"
                " ON CONFLICT (customer_id, tag_id) DO NOTHING",
                [by_id, now_db, [p[0] for p in pairs], [p[1] for p in pairs]],
            )
        else:
            cur.execute(
                "INSERT INTO tagging_customertag (customer_id, tag_id, tagged_by_id, tagged_at)"
                " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), %s, %s"
                " FROM json_each(%s) WHERE true ON CONFLICT (customer_id, tag_id) DO NOTHING",
                [by_id, now_db, json.dumps(list(pairs))],
            )


def _insert_changes(rows: Sequence[tuple[int, int, bool]], *, by_id: int | None, now) -> None:
    if not rows:
        return
    now_db = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "INSERT INTO tagging_tagchange (customer_id, tag_id, added, changed_by_id, changed_at)"
                " SELECT x.c, x.t, x.a, %s, %s FROM unnest(%s::bigint[], %s::bigint[], %s::boolean[])"
                " AS x(c, t, a)",
                [by_id, now_db, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
            )
        else:
            cur.execute(
                "INSERT INTO tagging_tagchange (customer_id, tag_id, added, changed_by_id, changed_at)"
                " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
                " json_extract(value, '$[2]'), %s, %s FROM json_each(%s)",
                [by_id, now_db, json.dumps([[c, t, 1 if a else 0] for c, t, a in rows])],
            )


def tag_change(*, add: Iterable[str] = (), remove: Iterable[str] = ()) -> TagChange:
    """`add`/`remove` lists through the tag change schema (shape, duplicates, both at once)."""
    return validate_input(TagChangeSchema(), {"add": list(add), "remove": list(remove)})


@transaction.atomic
def bulk_change_tags(
    *,
    customer_ids: Iterable[int],
    change: TagChange | None = None,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    by: Staff | None,
) -> int:
    """Add and remove manual tags ("group:code") on many fans; returns how many fans changed.

    A constant number of queries whatever the number of fans (≤ API_BULK_TAG_MAX_CUSTOMERS).
    Refused as a whole (ValidationError naming the tag) for unknown, retired (when adding),
    computed or event tags, two tags of one single-choice group, or a tag both added and removed.
    Adding a tag of a single-choice group replaces the fan's other tag of that group. Adding a
    tag a fan has or removing one she lacks changes nothing and is not recorded.
    The caller scopes `customer_ids` to what `by` may see.
    """
    change = change if change is not None else tag_change(add=add, remove=remove)
    ids = list(dict.fromkeys(int(i) for i in customer_ids))
    add, remove = list(change.add), list(change.remove)
    if not ids or not (add or remove):
        return 0
    limit = settings.API_BULK_TAG_MAX_CUSTOMERS
    if len(ids) > limit:
        raise ValidationError(
            _("At most %(limit)d fans can be tagged at once.") % {"limit": limit},
            code="too_many_customers",
        )
    tags = resolve_tags([*add, *remove])
    add_tags, remove_tags = [tags[r] for r in add], [tags[r] for r in remove]
    _check_manual(add_tags, adding=True)
    _check_manual(remove_tags, adding=False)
    single_groups: dict[int, Tag] = {}
    for tag in add_tags:
        if tag.group.is_multi:
            continue
        if tag.group_id in single_groups:
            raise ValidationError(
                _("%(group)s allows one tag only.") % {"group": tag.group.code},
                code="single_choice",
            )
        single_groups[tag.group_id] = tag

    known = set(Customer.objects.filter(id__in=ids).values_list("id", flat=True))
    missing = [i for i in ids if i not in known]
    if missing:
        raise ValidationError(
            _("Unknown fans: %(ids)s.") % {"ids": ", ".join(map(str, missing[:20]))},
            code="unknown_customer",
        )

    add_ids = {t.id for t in add_tags}
    remove_ids = {t.id for t in remove_tags}
    relevant = Q(tag_id__in=add_ids | remove_ids)
    if single_groups:
        relevant |= Q(tag__group_id__in=list(single_groups))
    existing = set(
        CustomerTag.objects.filter(relevant, customer_id__in=ids).values_list(
            "customer_id", "tag__group_id", "tag_id"
        )
    )
    have = {(c, t) for c, _g, t in existing}
    # Removed: the tags asked for, plus the other tag of a single-choice group being set.
    to_delete = sorted(
        (c, t)
        for c, g, t in existing
        if t in remove_ids or (g in single_groups and t != single_groups[g].id)
    )
    to_insert = [(c, t.id) for c in ids for t in add_tags if (c, t.id) not in have]

    now = timezone.now()
    by_id = by.pk if by else None
    if to_delete:
        delete_tag_ids = {t for _c, t in to_delete}
        CustomerTag.objects.filter(
            customer_id__in={c for c, _t in to_delete}, tag_id__in=delete_tag_ids
        ).delete()
    _insert_customer_tags(to_insert, by_id=by_id, now=now)
    changes = [(c, t, False) for c, t in to_delete] + [(c, t, True) for c, t in to_insert]
    _insert_changes(changes, by_id=by_id, now=now)
    return len({c for c, _t, _a in changes})


def change_tags(
    *,
    customer: Customer,
    change: TagChange | None = None,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    by: Staff | None,
) -> None:
    """Add and remove manual tags ("group:code") on one fan (rules of bulk_change_tags)."""
    bulk_change_tags(customer_ids=[customer.pk], change=change, add=add, remove=remove, by=by)


def event_tags(*, event_code: str, event_name: str) -> tuple[Tag, Tag]:
    """Get or create the campaign's `participated:<code>` and `transacted:<code>` tags."""
    name = (event_name or event_code)[:50]
    result = []
    for group_code in (PARTICIPATED, TRANSACTED):
        group = TagGroup.objects.get(code=group_code)
        tag, created = Tag.objects.get_or_create(
            group=group, code=event_code, defaults={"name_zh": name, "name_en": name}
        )
        if not created and (tag.name_zh != name or not tag.is_active):
            tag.name_zh, tag.is_active = name, True
            if not tag.name_en:
                tag.name_en = name
            tag.save(update_fields=["name_zh", "name_en", "is_active", "updated_at"])
        result.append(tag)
    return result[0], result[1]


@transaction.atomic
def add_event_tag(*, tag: Tag, customer_ids: Iterable[int]) -> int:
    """Give an event tag to many fans (idempotent); returns how many fans newly got it."""
    if tag.group.kind != TagGroup.Kind.EVENT:
        raise ValidationError(
            _("%(tag)s is not an event tag.") % {"tag": f"{tag.group.code}:{tag.code}"},
            code="not_event_tag",
        )
    ids = list(dict.fromkeys(int(i) for i in customer_ids))
    if not ids:
        return 0
    have = set(
        CustomerTag.objects.filter(tag=tag, customer_id__in=ids).values_list(
            "customer_id", flat=True
        )
    )
    new = [c for c in ids if c not in have]
    now = timezone.now()
    _insert_customer_tags([(c, tag.id) for c in new], by_id=None, now=now)
    _insert_changes([(c, tag.id, True) for c in new], by_id=None, now=now)
    return len(new)
