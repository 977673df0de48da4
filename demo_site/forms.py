"""Reading the shop's forms: each problem is a :class:`FormError` naming the field."""

from __future__ import annotations

from collections.abc import Mapping

from pixel_embed import InvalidInput, normalize_email, normalize_phone


class FormError(ValueError):
    """A form field's value is missing or wrong; shown next to the form, never a 500."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def text(form: Mapping[str, str], field: str, *, label: str, max_length: int = 200) -> str:
    """A required one-line text field, trimmed."""
    value = form.get(field, "").strip()
    if not value:
        raise FormError(field, f"{label} is required")
    if len(value) > max_length:
        raise FormError(field, f"{label} is longer than {max_length} characters")
    return value


def email(form: Mapping[str, str], field: str = "email") -> str:
    """A required e-mail address, normalised as the pixel hashes it."""
    try:
        return normalize_email(text(form, field, label="E-mail address"))
    except InvalidInput:
        raise FormError(field, "E-mail address does not look like name@example.com") from None


def phone(form: Mapping[str, str], field: str, *, region: str | None) -> str | None:
    """An optional phone number, as E.164 (``+12133734253``)."""
    value = form.get(field, "").strip()
    if not value:
        return None
    try:
        return normalize_phone(value, region)
    except InvalidInput as exc:
        raise FormError(field, f"Phone number {exc.problem}") from None


def quantity(form: Mapping[str, str], field: str = "quantity", *, most: int = 20) -> int:
    """A whole number of items between 1 and ``most`` (1 when the field is absent)."""
    raw = form.get(field, "1").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise FormError(field, f"Quantity must be a whole number from 1 to {most}")
    return int(raw)
