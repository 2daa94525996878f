"""What a digest's run sends: the blog posts chosen when it started (see mailing.digests)."""

from typing import ClassVar

from django.db import models

from .delivery import Run


class Digest(models.Model):
    """The posts of one run of a "new blog posts" mailing, fixed when the run starts so that
    every recipient and every retry gets the same list: those published after `since` and up
    to `until`. The next run starts from the `until` of the last digest that had posts."""

    owner_lookup: ClassVar[str] = "run__mailing__owner"
    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="digest")
    post_ids = models.JSONField(default=list)
    since = models.DateTimeField()
    until = models.DateTimeField()

    def __str__(self) -> str:
        return f"Digest of {self.run} ({len(self.post_ids)} posts)"
