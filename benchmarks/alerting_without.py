"""The alerting service with parts of its work taken out, to measure what each part costs:
``python -m benchmarks.alerting_without PART[,PART...]`` runs ``raqib run alerting`` after
replacing each named part with the least that keeps the benchmark counting (started by
``benchmarks.alerting --without``). A measuring tool, never a way to run the service: what is
taken out is what makes an alert readable or survive a crash.

- ``render``: an email is a few headers and a fixed body, a webhook body only the alert id,
  instead of the rendered alert.
- ``replication``: no change capture, so nothing is shipped to the ``alerting.state``
  changelog (a standby would know nothing).
- ``alert-log``: no alert state is published to ``alerts``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

PARTS = ("render", "replication", "alert-log")


def parse_parts(text: str) -> list[str]:
    """``render,alert-log`` as a list; ``ValueError`` names an unknown part."""
    parts = [part for part in text.split(",") if part]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown parts {unknown}; known: {', '.join(PARTS)}")
    return parts


def take_out(parts: Sequence[str], patch: Callable[[Any, str, Any], None] = setattr) -> None:
    """Replace each part in ``parts`` (``patch`` is how: tests undo it afterwards)."""
    # Imported here: the benchmark itself imports this module's PARTS without the service.
    from schemas import Alert, EnrichedArticle
    from services.alerting import alert_log, channels, replication

    if "render" in parts:

        def email_bytes(alert: Alert, article: EnrichedArticle, **_: Any) -> bytes:
            return (
                f"Subject: alert\r\nX-Raqib-Alert-Id: {alert.id}\r\n\r\n" + "text\r\n" * 100
            ).encode()

        def body(self: Any, alert: Alert, article: EnrichedArticle) -> bytes:
            return json.dumps({"id": alert.id}).encode()

        patch(channels, "email_bytes", email_bytes)
        patch(channels.WebhookChannel, "body", body)
    if "replication" in parts:
        capture = replication.Changelog.capture

        def no_capture(self: replication.Changelog, on: bool) -> None:
            capture(self, False)

        patch(replication.Changelog, "capture", no_capture)
    if "alert-log" in parts:

        async def publish(self: alert_log.AlertLog, alert: Alert) -> bool:
            return True

        patch(alert_log.AlertLog, "publish", publish)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        take_out(parse_parts(args[0] if args else ""))
    except ValueError as error:
        raise SystemExit(str(error)) from None
    from services.cli import app

    app(["run", "alerting"])


if __name__ == "__main__":
    main()
