"""The publication date an article states near its top.

A date counts when it sits in the first lines: within the first ``_TOP_CHARACTERS``
characters, or on a short line of its own (a dateline such as "الجمعة 19 ديسمبر 2025" or
"نشر في: 18/05/2016") within the first ``_HEAD_CHARACTERS``. A date inside a prose
paragraph further down is an event date, not the publication date, and is ignored.

Month names: Egyptian/Gulf (يناير ... ديسمبر), Levantine/Iraqi (كانون الثاني ... كانون
الأول), Maghrebi (جانفي، فيفري، ماي، جوان، جويلية، أوت ...), the Libyan names used until 2011
(أي النار ... الكانون), paired forms ("18 أيار/مايو 2016") and English.
"""

from __future__ import annotations

import re
from datetime import date

from services.enrichment.core.normalize import normalize_arabic

__all__ = ["extract_published_date"]

_TOP_CHARACTERS = 400
_HEAD_CHARACTERS = 2000
_MIN_YEAR, _MAX_YEAR = 1990, 2100

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "يناير كانون الثاني|جانفي|اي النار|january|jan",
        "فبراير|شباط|فيفري|النوار|february|feb",
        "مارس|اذار|الربيع|march|mar",
        "ابريل|افريل|نيسان|الطير|april|apr",
        "مايو|ايار|ماي|الماء|may",
        "يونيو|يونيه|حزيران|جوان|الصيف|june|jun",
        "يوليو|يوليه|تموز|جويليه|ناصر|july|jul",
        "اغسطس|اب|اوت|هانيبال|august|aug",
        "سبتمبر|ايلول|الفاتح|september|sep|sept",
        "اكتوبر|تشرين الاول|التمور|october|oct",
        "نوفمبر|تشرين الثاني|الحرث|november|nov",
        "ديسمبر|كانون الاول|الكانون|december|dec",
    ),
    start=1,
):
    for _name in _names.replace("يناير كانون الثاني", "يناير|كانون الثاني").split("|"):
        _MONTHS[_name] = _number

_MONTH = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
# On normalised text: "19 ديسمبر 2025", "18 ايار مايو 2016", "december 19 2025".
_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\d)(?P<day>\d{{1,2}}) (?P<month>{_MONTH})(?: (?P<month2>{_MONTH}))?"
    rf" (?P<year>\d{{4}})(?!\d)"
)
_MONTH_DAY_YEAR = re.compile(
    rf"(?<![^\s])(?P<month>{_MONTH}) (?P<day>\d{{1,2}}) (?P<year>\d{{4}})(?!\d)"
)
# On the raw line with digits folded: "2025-12-19", "19/12/2025", "19.12.2025".
_ISO = re.compile(r"(?<!\d)(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})(?!\d)")
_NUMERIC = re.compile(r"(?<!\d)(?P<day>\d{1,2})([/.\-])(?P<month>\d{1,2})\2(?P<year>\d{4})(?!\d)")
_HAS_DIGIT = re.compile(r"\d")
_WORD = re.compile(r"[^\W\d_]+")
_DATELINE_WORDS = frozenset(
    normalize_arabic(w)
    for line in (
        "السبت الأحد الاحد الإثنين الاثنين الثلاثاء الأربعاء الاربعاء الخميس الجمعة",
        "نشر نشرت في بتاريخ تاريخ النشر آخر تحديث منذ الساعة صباحا مساء ص م",
        "published updated on at am pm gmt utc saturday sunday monday tuesday wednesday",
        "thursday friday",
    )
    for w in line.split()
)
_MAX_EXTRA_WORDS = 3


def _fold_digits(text: str) -> str:
    return re.sub(r"(?![0-9])\d", lambda m: str(int(m.group())), text)


def _make_date(year: str, month: int | str, day: str) -> date | None:
    try:
        value = date(int(year), int(month), int(day))
    except ValueError:
        return None
    return value if _MIN_YEAR <= value.year <= _MAX_YEAR else None


def _dates_in_line(line: str) -> list[tuple[date, str]]:
    """Dates in one line, each with the line's words left once the date is taken out."""
    found: list[tuple[float, date, str]] = []
    normal = normalize_arabic(line)
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        for match in pattern.finditer(normal):
            value = _make_date(match["year"], _MONTHS[match["month"]], match["day"])
            if value is not None:
                rest = normal[: match.start()] + " " + normal[match.end() :]
                found.append((match.start() / max(len(normal), 1), value, rest))
    digits = _fold_digits(line)
    for pattern in (_ISO, _NUMERIC):
        for match in pattern.finditer(digits):
            value = _make_date(match["year"], match["month"], match["day"])
            if value is not None:
                rest = normalize_arabic(digits[: match.start()] + " " + digits[match.end() :])
                found.append((match.start() / max(len(digits), 1), value, rest))
    found.sort(key=lambda item: item[0])  # the first date in the line first
    return [(value, rest) for _, value, rest in found]


def _is_dateline(rest: str) -> bool:
    words = [w for w in _WORD.findall(rest) if w not in _DATELINE_WORDS]
    return len(words) <= _MAX_EXTRA_WORDS


def extract_published_date(text: str) -> date | None:
    """The first publication date stated at the top of ``text``, or None."""
    offset = 0
    for line in text[:_HEAD_CHARACTERS].split("\n"):
        line_offset = offset
        offset += len(line) + 1
        if not _HAS_DIGIT.search(line):
            continue
        for value, rest in _dates_in_line(line):
            if line_offset < _TOP_CHARACTERS or _is_dateline(rest):
                return value
    return None
