"""Removal of page furniture lines (navigation, share and comment widgets) from article text.

A line is removed only when the whole line is furniture: a known widget phrase (optionally
numbered, as in menus), an ad placeholder such as ``[ads2]``, or a run of three or more short
numbered lines without sentence punctuation (a menu). Prose lines are never touched, and
lines longer than a widget can be are not even inspected.
"""

from __future__ import annotations

import re

__all__ = ["clean_text"]

_MARKS = "[\u0610-\u061a\u064b-\u065f\u0670\u0640]*"
_LOOSE_LETTERS = {
    "ا": "[اأإآٱ]",
    "ي": "[يىئی]",
    "ه": "[هة]",
    "و": "[وؤ]",
    "ك": "[كک]",
}

# Widget phrases, written in normalised spelling; ".*" lets a phrase run to the end of line.
_FURNITURE_PHRASES = (
    "تخطي الى.*",
    "انتقل الى المحتوى",
    "زر الذهاب الى الاعلى",
    "العوده الى الاعلى",
    "اترك تعليقا",
    "اترك تعليق",
    "اترك ردا",
    "اترك رد",
    "اضف تعليقا",
    "اضف تعليق",
    "لن يتم نشر عنوان بريدك الالكتروني.*",
    "الحقول الالزاميه مشار اليها.*",
    "التعليقات",
    "تعليقات",
    "تعليق",
    "\\d+ تعليقات?",
    "لا توجد تعليقات",
    "(?:%d )?مدونون معجبون بهذه",
    "معجب بهذه",
    "اظهر المزيد",
    "عرض المزيد",
    "اقرا المزيد",
    "تحميل المزيد",
    "اكتشاف المزيد",
    "تم نسخ الرابط",
    "نسخ الرابط",
    "(?:مقالات|اخبار|مواضيع|موضوعات|قصص) ذات صله",
    "ذات صله",
    "اقرا ايضا",
    "اقرا كذلك",
    "شاهد ايضا",
    "شارك",
    "شارك المقال",
    "شارك هذا المقال",
    "شارك الخبر",
    "مشاركه",
    "طباعه",
    "الكلمات المفتاحيه",
    "الوسوم",
    "اعلان",
    "تابعونا على.*",
)
_LATIN_PHRASES = (
    "skip to (?:main )?content",
    "skip to .{0,40}",
    "share(?: this(?: article)?)?",
    "read more",
    "related(?: articles| posts)?",
    "advertisement",
    "leave a (?:comment|reply)",
    "print",
)


def _loose(phrase: str) -> str:
    """A regex matching the phrase as written in raw text: any alef/ya/ta form, harakat."""
    out: list[str] = []
    index = 0
    while index < len(phrase):
        char = phrase[index]
        if char == "\\" or char in "()?:|.*+%":
            # Regex syntax in the phrase list passes through ("\d+", "(?:...)", ".*").
            if char == "\\":
                out.append(phrase[index : index + 2])
                index += 2
                continue
            out.append(char)
        elif char == " ":
            out.append(r"[\s\-_/]+")
        elif "\u0600" <= char <= "\u06ff":
            out.append(_LOOSE_LETTERS.get(char, char) + _MARKS)
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


_FURNITURE_LINE = re.compile(
    r"[\s\u200f\u200e]*(?:[\d٠-٩]{1,2}[.)\-]?\s+)?(?:"
    + "|".join(_loose(p) for p in _FURNITURE_PHRASES)
    + "|"
    + "|".join(_LATIN_PHRASES)
    + r")[\s.:!…\u200f\u200e]*",
    re.IGNORECASE,
)
_AD_PLACEHOLDER = re.compile(r"\s*\[[\w\- ]{1,30}\]\s*")
_NUMBERED_SHORT = re.compile(r"\s*[\d٠-٩]{1,2}[.)]\s+[^.!?؟،,؛;:]{1,60}")
_MAX_FURNITURE_LENGTH = 160
_MIN_MENU_RUN = 3


def _is_furniture(line: str) -> bool:
    if len(line) > _MAX_FURNITURE_LENGTH or not line.strip():
        return False
    return bool(_FURNITURE_LINE.fullmatch(line) or _AD_PLACEHOLDER.fullmatch(line))


def _is_menu_item(line: str) -> bool:
    return (
        len(line) <= 80 and len(line.split()) <= 7 and _NUMBERED_SHORT.fullmatch(line) is not None
    )


def clean_text(text: str) -> str:
    """``text`` without furniture lines; blank-line runs left behind collapse to one."""
    lines = text.split("\n")
    remove = [_is_furniture(line) for line in lines]
    # Runs of short numbered lines are menus (a real numbered list has sentences).
    index = 0
    while index < len(lines):
        if _is_menu_item(lines[index]):
            end = index
            while end < len(lines) and (_is_menu_item(lines[end]) or remove[end]):
                end += 1
            if end - index >= _MIN_MENU_RUN:
                for position in range(index, end):
                    remove[position] = True
            index = end
        else:
            index += 1
    kept: list[str] = []
    for line, removed in zip(lines, remove, strict=True):
        if removed:
            continue
        if not line.strip() and (not kept or not kept[-1].strip()):
            continue  # no leading blank lines and no blank runs
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)
