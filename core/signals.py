"""Events one app announces and another acts on, so that neither imports the other's services.

Receivers run synchronously, inside the sender's transaction: what they do commits or rolls
back with the event, and an exception in one undoes the whole action.
"""

from django.dispatch import Signal

# Sent by `users.services.user_block` once the account is marked blocked, with `user` (the
# account) and `actor` (the manager). Campaigns stop what the account had queued or running
# (`mailing.signals`); a receiver returns how many mailings it stopped.
account_blocked = Signal()

# Sent by `users.services.account_delete`, inside its transaction and before the account's row
# is deleted, with `user`. Campaigns stop what the account has in flight and delete what it
# owned in bulk (`mailing.signals`), so that the row's cascade has little left to walk.
account_deleting = Signal()
