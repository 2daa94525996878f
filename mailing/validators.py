from django.core.exceptions import ValidationError


def validate_single_line(value: str) -> None:
    """Refuse line breaks in a mail header value (header injection)."""
    if any(char in value for char in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        raise ValidationError("The subject must be a single line.", code="header_injection")
