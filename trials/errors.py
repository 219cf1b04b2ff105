"""Domain errors raised by services; API, UI and admin translate them."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError


class DomainValidationError(ValidationError):
    """A rejected write. ``errors`` maps a field name to messages naming the rule.

    Subclasses Django's ``ValidationError`` (dict form) so forms and the admin
    show the messages beside their fields.
    """

    def __init__(self, errors: Mapping[str, str | list[str]]):
        normalised = {field: [m] if isinstance(m, str) else list(m) for field, m in errors.items()}
        super().__init__(normalised)
        self.errors = normalised

    def __str__(self) -> str:
        return "; ".join(f"{f}: {' '.join(ms)}" for f, ms in self.errors.items())


class ConflictError(Exception):
    """The record changed since the version the caller based its edit on (HTTP 409)."""

    def __init__(self, *, current_version: int, expected_version: int):
        super().__init__(
            f"The record is at version {current_version}; your change was based on version {expected_version}. "
            "Reload it and apply your change again."
        )
        self.current_version = current_version
        self.expected_version = expected_version


class ErrorCollector:
    """Collects field errors so a service reports every failed rule at once."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def check(self, condition: bool, field: str, message: str) -> None:
        if not condition:
            self.add(field, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DomainValidationError(self.errors)
