"""What the campaign services share: their log line and the "being sent right now" test."""

import logging
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet

from users.models import User

from ..models import Mailing, Run

logger = logging.getLogger("mailing.services")


def log_event(obj: Model, action: str, user: User, **fields: object) -> None:
    """One INFO line per write: `<model>.<action>`, the object and who did it."""
    logger.info(
        f"{obj._meta.model_name}.{action}",
        extra={"object_id": obj.pk, "user_id": user.pk, **fields},
    )


def log_deleted(model: type[Model], pk: int, user: User) -> None:
    """The line of a delete, written once the row is gone (and its pk with it)."""
    logger.info(f"{model._meta.model_name}.deleted", extra={"object_id": pk, "user_id": user.pk})


def in_flight(mailings: QuerySet[Mailing] | Iterable[Mailing]) -> bool:
    """Whether a run of any of `mailings` is open (queued or being sent)."""
    return Run.objects.filter(mailing__in=mailings, finished_at__isnull=True).exists()


def collect(errors: dict[str, list[str]], instance: Model, *, exclude: Iterable[str]) -> None:
    """Add the model's own field checks (`full_clean`) of `instance` to `errors`, and raise
    them all, by field, if there are any.

    Constraints are left to the service that calls this (it checks them with a message that
    names the field) and, last, to the database: `full_clean` would report them as one error
    naming no field."""
    try:
        instance.full_clean(exclude=list(exclude), validate_constraints=False)
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
