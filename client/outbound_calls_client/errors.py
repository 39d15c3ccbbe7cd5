"""Errors a caller can act on."""

from __future__ import annotations


class InvalidCallRequest(ValueError):
    """A request breaks a rule; the message names the field and the rule, never a number."""

    def __init__(self, field: str, rule: str, detail: str) -> None:
        super().__init__(f"{field}: {detail} (rule: {rule})")
        self.field = field
        self.rule = rule
