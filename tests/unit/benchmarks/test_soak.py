"""The soak benchmark's pure parts: reading RSS, fitting growth, judging deliveries."""

from __future__ import annotations

import pytest

from benchmarks.soak import (
    MemoryGrowth,
    Receipts,
    Sample,
    memory_growth,
    parse_vmrss_kb,
    slope_per_minute,
    verdict,
)


def test_vmrss_is_read_from_proc_status() -> None:
    status = "Name:\tpython\nVmHWM:\t  90000 kB\nVmRSS:\t  81234 kB\nThreads:\t4\n"
    assert parse_vmrss_kb(status) == 81234


@pytest.mark.parametrize("status", ["", "Name:\tzombie\n", "VmHWM:\t 1 kB\n"])
def test_a_status_without_vmrss_gives_none(status: str) -> None:
    assert parse_vmrss_kb(status) is None


def test_the_slope_is_per_minute_and_needs_three_points() -> None:
    assert slope_per_minute([(0, 100), (30, 105), (60, 110)]) == pytest.approx(10.0)
    assert slope_per_minute([(0, 100), (60, 200)]) is None
    assert slope_per_minute([(5, 1), (5, 2), (5, 3)]) is None  # no spread in time


def _sample(at: float, mb: float) -> Sample:
    return Sample(at, 0, {}, {"alerting": mb, "gone": None}, 0)


def test_growth_is_judged_after_warm_up_only() -> None:
    samples = [_sample(0, 50), _sample(30, 150), *(_sample(60 + 15 * i, 150 + i) for i in range(9))]
    growth = memory_growth(samples, warm_up_s=60)
    assert set(growth) == {"alerting"}  # a process never measured is left out
    alerting = growth["alerting"]
    assert (alerting.first_mb, alerting.last_mb) == (150, 158)
    assert alerting.flat(minutes_after_warm_up=2)  # 8 MB on 150: noise
    assert not MemoryGrowth(150, 400, 125.0).flat(minutes_after_warm_up=2)


def test_receipts_count_missing_and_extra_copies_per_channel() -> None:
    receipts = Receipts()
    for alert, marked in [("a", False), ("a", True), ("b", False), ("b", False), ("x", False)]:
        receipts.add("email", alert, marked)
    report = receipts.check({"a", "b", "c"})["email"]
    assert report == {"received": 4, "missing": 1, "extra_copies": 2, "marked_redelivery": 1}


def test_the_verdict_fails_a_run_that_lost_or_silently_doubled_an_alert() -> None:
    result = {
        "rate_target": 100.0,
        "rate_achieved": 99.0,
        "drained_after_s": 12.0,
        "max_lag_second_half": {"enrichment": 10, "indexer": 900, "alerting": 50},
        "memory": {"alerting": {"flat": True}},
        "deliveries": {"email": {"missing": 0, "extra_copies": 1, "marked_redelivery": 1}},
    }
    assert all(verdict(result).values())
    result["deliveries"] = {"email": {"missing": 0, "extra_copies": 2, "marked_redelivery": 1}}
    assert not verdict(result)["alerts_once"]
    result["max_lag_second_half"] = {"indexer": 1001}
    assert not verdict(result)["lag_bounded"]
