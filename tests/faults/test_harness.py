"""The fault harness's accounting, without servers: what counts as a duplicate."""

from __future__ import annotations

from tests.faults.harness import Outcome, delivery_duplicates, summary_table


def test_one_unmarked_receipt_per_alert_is_the_delivery_itself() -> None:
    assert delivery_duplicates([("a", False), ("b", False)]) == (0, 0, 0)


def test_marked_copies_are_allowed_duplicates_and_unmarked_ones_are_silent() -> None:
    receipts = [
        ("a", False),
        ("a", True),  # resent after a crash, marked: allowed, counted
        ("b", False),
        ("b", False),  # resent without the mark: a silent duplicate
        ("c", True),  # only the marked resend arrived: not a duplicate, still counted
    ]
    assert delivery_duplicates(receipts) == (1, 1, 2)


def test_an_outcome_fails_on_any_loss_silent_duplicate_or_unexpected_dead_letter() -> None:
    good = Outcome("x", "quick", sent=10, indexed=10, alerts_expected=6, caught_up=True)
    assert good.passed
    for change in (
        {"articles_lost": 1},
        {"alerts_lost": 1},
        {"deliveries_duplicated_unflagged": 1},
        {"dead_letters": 1},
        {"caught_up": False},
        {"services_died": ["alerting-0 (code 1)"]},
        {"alerts_expected": 0},  # an experiment that raised no alert proves nothing
    ):
        bad = Outcome(**{**good.__dict__, **change})
        assert not bad.passed, change
    flagged = Outcome(**{**good.__dict__, "deliveries_duplicated_flagged": 3})
    assert flagged.passed


def test_the_summary_is_a_markdown_table_with_one_row_per_experiment() -> None:
    outcomes = [
        Outcome(
            "kill -9 alerting",
            "full",
            sent=400,
            indexed=400,
            alerts_expected=240,
            redeliveries_flagged=4,
            recovery_s=5.25,
            caught_up=True,
        ),
        Outcome(
            "broker kill",
            "full",
            sent=400,
            indexed=399,
            articles_lost=1,
            alerts_expected=240,
            caught_up=True,
        ),
    ]
    lines = summary_table(outcomes).splitlines()
    assert len(lines) == 4 and lines[0].startswith("| experiment")
    assert [c.strip() for c in lines[2].strip("|").split("|")][-3:] == [
        "0 (expected 0)",
        "5.2 s",
        "pass",
    ]
    assert lines[3].split("|")[-2].strip() == "FAIL"
