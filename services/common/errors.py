"""Typed failures: the type of an exception decides where the message goes.

- ``PermanentError``: retrying cannot help (bad bytes, schema violation, a document the
  store rejects); the message goes to the stage's dead-letter topic and the stage moves on.
- ``TransientError``: the world is briefly unhealthy (a server down, a timeout); the offset is
  not committed and the message is processed again after a backoff.
Any other exception is treated as transient: losing a message is worse than retrying it.
"""


class RaqibError(Exception):
    """Base class of Raqib's own errors."""


class PermanentError(RaqibError):
    """Processing this input can never succeed; dead-letter it."""


class TransientError(RaqibError):
    """Processing may succeed later; retry without committing."""


class ConfigError(RaqibError):
    """A configuration or rules file is invalid; the message names the file and the field."""
