"""What the operator's processes record about themselves: a heartbeat per process kind."""

from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """The last time a long-running process showed it was alive: the scheduler writes its
    row ("scheduler") on every tick (`mailing.jobs.record_tick`), and the managers' health
    page reads it to say whether the scheduler runs."""

    SCHEDULER = "scheduler"

    name = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField(default=timezone.now)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
