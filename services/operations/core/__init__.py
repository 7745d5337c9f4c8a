"""The operator tools' pure logic: no I/O."""

from services.operations.core.dead_letters import (
    DEAD_LETTER_STAGES,
    REPLAY_HEADER,
    DeadLetterRecord,
    Decision,
    ShownValue,
    StageSummary,
    UnknownStageError,
    check_stage,
    decide,
    parse_since,
    replay_headers,
    replay_refusal,
    show_value,
    summarise,
)

__all__ = [
    "DEAD_LETTER_STAGES",
    "REPLAY_HEADER",
    "DeadLetterRecord",
    "Decision",
    "ShownValue",
    "StageSummary",
    "UnknownStageError",
    "check_stage",
    "decide",
    "parse_since",
    "replay_headers",
    "replay_refusal",
    "show_value",
    "summarise",
]
