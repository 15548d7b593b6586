"""Errors of the storage layer.

::

    StoreError
    ├── StoreUnavailable     the backend cannot be reached (retry later)
    └── LeaseLost            a commit was refused: another process owns the lease

Backends translate their library errors (``redis.exceptions.ConnectionError``,
``sqlite3.OperationalError``) into this tree at their boundary, so callers
(the API's exception handler, the learner's loop) catch only these.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every storage error."""


class StoreUnavailable(StoreError):
    """The backend is unreachable or timed out; nothing was written for sure."""


class LeaseLost(StoreError):
    """The caller no longer holds the lease it tried to commit under."""
