"""The progress of long commands: lines, summary, Ctrl-C."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from services.common.progress import INTERRUPTED_EXIT_CODE, Progress, run_async


def test_plain_lines_and_one_json_summary_off_a_terminal() -> None:
    out = io.StringIO()
    with Progress(total=4, label="replay", unit="articles", interval_s=0, stream=out) as p:
        for _ in range(4):
            p.advance()
        p.count("skipped", 2)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("replay: 1 of 4 articles, 25.0%")
    assert "left" in lines[0]
    summary = json.loads(lines[-1])
    assert summary["progress"] == "replay" and summary["status"] == "done"
    assert (summary["done"], summary["total"], summary["skipped"]) == (4, 4, 2)
    assert all(not line.startswith("{") for line in lines[:-1])


def test_a_bar_on_a_terminal_ends_with_the_summary() -> None:
    out = io.StringIO()
    with Progress(total=3, label="dlq replay", unit="records", stream=out, tty=True) as p:
        p.advance(3)
    assert "records/s" in out.getvalue()
    last = out.getvalue().splitlines()[-1]
    assert json.loads(last[last.index("{") :])["done"] == 3  # after the cursor's reset


def test_ctrl_c_says_how_far_it_got_and_exits_130() -> None:
    out = io.StringIO()
    with (
        pytest.raises(SystemExit) as stopped,
        Progress(total=10, label="import", done=2, stream=out) as p,
    ):
        p.advance(3)
        raise KeyboardInterrupt
    assert stopped.value.code == INTERRUPTED_EXIT_CODE
    lines = out.getvalue().splitlines()
    assert (
        lines[0] == "import: interrupted after 5 of 10 items; run the same command again to resume"
    )
    assert json.loads(lines[1])["status"] == "interrupted"


def test_a_cancelled_coroutine_is_interrupted_too() -> None:
    out = io.StringIO()

    async def work() -> None:
        with Progress(total=None, label="replay", stream=out) as p:
            p.advance()
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(work())
    assert "interrupted after 1 items" in out.getvalue()


def test_run_async_turns_ctrl_c_into_exit_130() -> None:
    async def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stopped:
        run_async(interrupted())
    assert stopped.value.code == INTERRUPTED_EXIT_CODE


def test_a_failure_is_summarised_and_raised() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), Progress(total=2, label="x", stream=out):
        raise RuntimeError("boom")
    assert json.loads(out.getvalue().splitlines()[-1])["status"] == "failed"
