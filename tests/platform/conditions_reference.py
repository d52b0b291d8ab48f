"""The sale-condition rule table read trade by trade: the plain-Python reference the
vectorised flags (tickflow.conditions.flags_from_mask of mask_from_codes) are tested against."""

from __future__ import annotations

from tickflow.conditions import ALL, RULES


def flags_of(conditions: list[int]) -> int:
    """Update flags of one trade's condition list: a field is updated only if every condition allows it."""
    flags = ALL
    for code in conditions:
        rule = RULES.get(int(code))
        flags &= rule.flags if rule is not None else 0
    return flags
