"""The enrichment core's own failure."""

from __future__ import annotations

from services.common.errors import PermanentError

__all__ = ["InvalidText"]


class InvalidText(PermanentError):
    """The input is not text that can be tagged (binary data, NUL bytes, lone surrogates)."""
