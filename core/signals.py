"""Events one app announces and another acts on, so that neither imports the other's services.

Receivers run synchronously, inside the sender's transaction: what they do commits or rolls
back with the event, and an exception in one undoes the whole action.
"""

from django.dispatch import Signal

# Sent by `users.services.user_block` once the account is marked blocked, with `user` (the
# account) and `actor` (the manager). Campaigns hold what the account had queued or planned
# (`mailing.signals`); a receiver returns how many mailings it held.
account_blocked = Signal()

# Sent by `users.services.account_delete`, inside its transaction and before the account's row
# is deleted, with `user`. Campaigns stop what the account has in flight and delete what it
# owned in bulk (`mailing.signals`), so that the row's cascade has little left to walk.
account_deleting = Signal()

# Sent by `users.services.user_unblock` once the account is unblocked, with `user` and
# `actor`. Campaigns give back what the block held; a receiver returns how many periodic
# occurrences that fell due during the block it skipped.
account_unblocked = Signal()
