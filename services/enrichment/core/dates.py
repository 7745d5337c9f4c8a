"""The publication date an article states near its top.

A date counts when it sits in the first lines: within the first ``_TOP_CHARACTERS``
characters, or on a short line of its own (a dateline such as "الجمعة 19 ديسمبر 2025" or
"نشر في: 18/05/2016") within the first ``_HEAD_CHARACTERS``. A date inside a prose
paragraph further down is an event date, not the publication date, and is ignored.

Month names: Egyptian/Gulf (يناير ... ديسمبر), Levantine/Iraqi (كانون الثاني ... كانون
الأول), Maghrebi (جانفي، فيفري، ماي، جوان، جويلية، أوت ...), the Libyan names used until 2011
(أي النار ... الكانون), paired forms ("18 أيار/مايو 2016") and English.

A date without a year ("الأحد 12 أكتوبر") is read only with a reference date (when the
article was fetched) and only on a dateline of its own — in prose, "في 12 أكتوبر" is far more
often an event. Its year is the one that makes it the latest such date not after the
reference, with one day of tolerance for clocks and time zones.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from services.common.arabic import normalize_arabic

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
# Without a year: "12 اكتوبر", "18 ايار مايو", "october 12" — not followed by a year, nor by a
# second month (possessive: "18 ايار" is not a date of its own inside "18 ايار مايو 2016").
_YEAR_AFTER = r"(?! \d{4}(?!\d))"
_DAY_MONTH = re.compile(
    rf"(?<!\d)(?P<day>\d{{1,2}}) (?P<month>{_MONTH})(?: (?P<month2>{_MONTH}))?+(?![^\s])"
    + _YEAR_AFTER
)
_MONTH_DAY = re.compile(rf"(?<![^\s])(?P<month>{_MONTH}) (?P<day>\d{{1,2}})(?!\d){_YEAR_AFTER}")
# Every month name's first word: a line whose words hold none has no month-name date.
_MONTH_FIRST_WORDS = frozenset(name.split(" ", 1)[0] for name in _MONTHS)
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
_MAX_MONTH_WORDS = 4  # "18 كانون الثاني/يناير": a date holds at most this many letter words
_TOLERANCE = timedelta(days=1)
_DATELINE_PROBE = 160  # characters read to tell a paragraph from a dateline
_NUMERIC_HINT = re.compile(r"\d[/.\-]\d")  # what a numeric date needs, on the raw line


def _fold_digits(text: str) -> str:
    return re.sub(r"(?![0-9])\d", lambda m: str(int(m.group())), text)


def _make_date(year: str, month: int | str, day: str) -> date | None:
    try:
        value = date(int(year), int(month), int(day))
    except ValueError:
        return None
    return value if _MIN_YEAR <= value.year <= _MAX_YEAR else None


def _latest_with_year(month: int, day: int, reference: date) -> date | None:
    """The latest date of this day and month not after ``reference`` plus one day."""
    latest = reference + _TOLERANCE
    for year in range(latest.year, latest.year - 8, -1):  # 29 February: back to a leap year
        try:
            value = date(year, month, day)
        except ValueError:
            continue
        if value <= latest:
            return value if _MIN_YEAR <= value.year <= _MAX_YEAR else None
    return None


def _dates_in_line(line: str, reference: date | None) -> list[tuple[date, str, bool]]:
    """Dates in one line, each with the line's words left once the date is taken out and
    whether the line stated its year."""
    found: list[tuple[float, date, str, bool]] = []
    normal = normalize_arabic(line)
    size = max(len(normal), 1)
    if not _MONTH_FIRST_WORDS.isdisjoint(normal.split(" ")):
        for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
            for match in pattern.finditer(normal):
                value = _make_date(match["year"], _MONTHS[match["month"]], match["day"])
                if value is not None:
                    rest = normal[: match.start()] + " " + normal[match.end() :]
                    found.append((match.start() / size, value, rest, True))
        if reference is not None:
            for pattern in (_DAY_MONTH, _MONTH_DAY):
                for match in pattern.finditer(normal):
                    value = _latest_with_year(_MONTHS[match["month"]], int(match["day"]), reference)
                    if value is not None:
                        rest = normal[: match.start()] + " " + normal[match.end() :]
                        found.append((match.start() / size, value, rest, False))
    if _NUMERIC_HINT.search(line):
        digits = _fold_digits(line)
        for pattern in (_ISO, _NUMERIC):
            for match in pattern.finditer(digits):
                value = _make_date(match["year"], match["month"], match["day"])
                if value is not None:
                    rest = normalize_arabic(digits[: match.start()] + " " + digits[match.end() :])
                    found.append((match.start() / max(len(digits), 1), value, rest, True))
    found.sort(key=lambda item: item[0])  # the first date in the line first
    return [(value, rest, has_year) for _, value, rest, has_year in found]


def _extra_words(normal: str) -> int:
    """Words of a normalised line that are not dateline words (day names, "published", ...)."""
    return sum(1 for word in _WORD.findall(normal) if word not in _DATELINE_WORDS)


def _is_dateline(rest: str) -> bool:
    return _extra_words(rest) <= _MAX_EXTRA_WORDS


def extract_published_date(text: str, *, reference: date | datetime | None = None) -> date | None:
    """The first publication date stated at the top of ``text``, or None.

    With ``reference`` (when the article was fetched), a dateline without a year counts too,
    in the latest year that does not put it after the reference (plus one day).
    """
    if isinstance(reference, datetime):
        reference = reference.date()
    offset = 0
    for line in text[:_HEAD_CHARACTERS].split("\n"):
        line_offset = offset
        offset += len(line) + 1
        if not _HAS_DIGIT.search(line):
            continue
        if line_offset >= _TOP_CHARACTERS and not _could_be_dateline(line):
            continue  # a paragraph: its dates are events
        for value, rest, stated_year in _dates_in_line(line, reference):
            if (stated_year and line_offset < _TOP_CHARACTERS) or _is_dateline(rest):
                return value
    return None


def _could_be_dateline(line: str) -> bool:
    """False when the line has too many words to be a dateline whatever date it holds (a date
    takes at most two month names of two words each out of it): skips the date patterns for
    paragraphs below the top. Only the line's beginning is read: it is enough to tell."""
    words = _WORD.findall(normalize_arabic(line[:_DATELINE_PROBE]))
    if len(line) > _DATELINE_PROBE and words:
        words.pop()  # maybe cut in the middle: not counted
    extra = sum(1 for word in words if word not in _DATELINE_WORDS)
    return extra <= _MAX_EXTRA_WORDS + _MAX_MONTH_WORDS
