"""Reads shared by several pages: tag display names and the manual taxonomy."""

from __future__ import annotations

from django.utils.translation import get_language

from fanops.vocabulary import Apple, RfmSegment, RStage
from tagging.models import Tag, TagGroup
from tagging.selectors import tag_groups


def tag_names() -> dict[str, str]:
    """`"group:code"` → display name in the active language, for every tag (1 query)."""
    english = (get_language() or "").startswith("en")
    names = {
        f"{group}:{code}": (name_en if english and name_en else name_zh)
        for group, code, name_zh, name_en in Tag.objects.values_list(
            "group__code", "code", "name_zh", "name_en"
        )
    }
    for group, choices in (("apple", Apple), ("rfm_segment", RfmSegment), ("r_stage", RStage)):
        for value, label in choices.choices:
            names.setdefault(f"{group}:{value}", str(label))
    return names


def manual_taxonomy() -> list[TagGroup]:
    """Active manual groups with their active tags, in order (2 queries)."""
    return list(tag_groups(kinds=[TagGroup.Kind.MANUAL]))
