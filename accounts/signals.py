"""Signals the accounts app sends to the apps above it, so it never imports them (the layering: accounts <- stores
<- provisioning)."""

from django.dispatch import Signal

# Sent by accounts.services.user_change_password once a user's new password is saved, with `user` and
# `new_password`. A receiver that keeps copies of the password (provisioning: the stores' admin accounts) hands it
# on without waiting and returns its report {totalStores, successful, failed, details}.
password_changed = Signal()
