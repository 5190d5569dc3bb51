"""GB 11643-1999 citizen identity numbers: validate, normalise, convert, extract, repair.

An 18-character number is: 6-digit area code (GB/T 2260) + 8-digit birth date (YYYYMMDD) +
3-digit sequence (odd for men, even for women) + check character (ISO 7064 MOD 11-2, `0-9` or `X`).
Legacy 15-digit numbers (issued before 1999) have a 2-digit year and no check character.

Hot path: `check()` returns `None` for a valid number or a short reason code; it uses no regular
expressions, no datetime objects and a table-driven checksum (see `phip bench idcard`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from operator import mul

WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_WEIGHT_SUM_48 = 48 * sum(WEIGHTS)
_DIGITS = frozenset("0123456789")
_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

#: Province-level prefixes of GB/T 2260 (mainland, plus 71 Taiwan, 81 Hong Kong, 82 Macao).
PROVINCE_PREFIXES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 "
    "71 81 82".split()
)

# Reason codes (stable: quality rules and quarantine reasons refer to them).
R_EMPTY = "empty"
R_LENGTH = "length"
R_CHARS = "characters"
R_AREA = "area_code"
R_DATE = "birth_date"
R_FUTURE = "birth_date_future"
R_CHECK = "check_digit"

REASON_TEXT: dict[str, tuple[str, str]] = {
    R_EMPTY: ("身份证号为空", "identity number is empty"),
    R_LENGTH: (
        "身份证号长度应为18位（或旧版15位）",
        "identity number must have 18 (or legacy 15) characters",
    ),
    R_CHARS: ("身份证号含非法字符", "identity number contains invalid characters"),
    R_AREA: ("地址码不是有效的行政区划代码", "area code is not a valid division code"),
    R_DATE: ("出生日期码不是有效日期", "birth date part is not a real date"),
    R_FUTURE: ("出生日期晚于今天", "birth date is in the future"),
    R_CHECK: ("校验码错误", "check character is wrong"),
}

_today_cache: list[object] = [0.0, ""]


def _today_str() -> str:
    now = time.time()
    if now > _today_cache[0]:  # type: ignore[operator]
        _today_cache[1] = date.today().strftime("%Y%m%d")
        _today_cache[0] = now + 60.0
    return _today_cache[1]  # type: ignore[return-value]


def check_char(body17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(map(mul, WEIGHTS, body17.encode("ascii"))) - _WEIGHT_SUM_48
    return CHECK_CHARS[total % 11]


def _date_ok(y: int, m: int, d: int) -> bool:
    if y < 1850 or m < 1 or m > 12 or d < 1:
        return False
    if m == 2 and (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        return d <= 29
    return d <= _DAYS[m]


class IdNumberChecker:
    """Validates numbers against a set of known area codes.

    `area_codes` are the full 6-digit codes this deployment knows (its province's divisions);
    numbers from other provinces are checked only at province level (`PROVINCE_PREFIXES`), since
    the platform carries only its own province's division list.
    """

    def __init__(self, area_codes: Iterable[str], local_prefixes: Iterable[str]):
        self.area_codes = frozenset(area_codes)
        self.local_prefixes = frozenset(local_prefixes)

    def area_ok(self, area: str) -> bool:
        p = area[:2]
        if p in self.local_prefixes:
            return area in self.area_codes
        return p in PROVINCE_PREFIXES

    def check(self, s: str, today: str | None = None) -> str | None:
        """Return None if `s` is a valid (already normalised) 18-digit number, else a reason code."""
        if len(s) != 18:
            return R_EMPTY if not s else R_LENGTH
        body = s[:17]
        if not body.isdigit() or not body.isascii():
            return R_CHARS
        last = s[17]
        if last not in _DIGITS and last != "X":
            return R_CHARS
        if not self.area_ok(s[:6]):
            return R_AREA
        if not _date_ok(int(s[6:10]), int(s[10:12]), int(s[12:14])):
            return R_DATE
        if s[6:14] > (today or _today_str()):
            return R_FUTURE
        total = sum(map(mul, WEIGHTS, body.encode())) - _WEIGHT_SUM_48
        if CHECK_CHARS[total % 11] != last:
            return R_CHECK
        return None

    def is_valid(self, s: str) -> bool:
        return self.check(s) is None

    def check15(self, s: str, today: str | None = None) -> str | None:
        """Validate a legacy 15-digit number (all digits, known area, real 19YY date)."""
        if len(s) != 15:
            return R_LENGTH
        if not s.isdigit() or not s.isascii():
            return R_CHARS
        if not self.area_ok(s[:6]):
            return R_AREA
        if not _date_ok(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12])):
            return R_DATE
        if "19" + s[6:12] > (today or _today_str()):
            return R_FUTURE
        return None

    def validate(self, raw: str | None) -> IdCheck:
        """Normalise and validate; accepts 18- and 15-digit forms. Never raises."""
        s = normalize(raw)
        if len(s) == 15:
            reason = self.check15(s)
            return IdCheck(s, to18(s) if reason is None else None, reason, legacy15=True)
        reason = self.check(s)
        return IdCheck(s, s if reason is None else None, reason, legacy15=False)

    def one_edit_repairs(self, raw: str) -> list[str]:
        """Valid 18-digit numbers one edit away from `raw` (one character changed, or two adjacent
        characters swapped), excluding `raw` itself. Used to repair typos the check digit exposes."""
        s = normalize(raw)
        if len(s) != 18 or not s[:17].isdigit():
            return []
        out: set[str] = set()
        # One body digit changed: at most one value per position satisfies the checksum.
        for i in range(17):
            for d in "0123456789":
                if d != s[i]:
                    cand = s[:i] + d + s[i + 1 :]
                    if check_char(cand[:17]) == cand[17] and self.check(cand) is None:
                        out.add(cand)
        # Check character changed.
        fixed = s[:17] + check_char(s[:17])
        if fixed != s and self.check(fixed) is None:
            out.add(fixed)
        # Adjacent swaps (including the check character with the last body digit).
        for i in range(17):
            if s[i] != s[i + 1]:
                cand = s[:i] + s[i + 1] + s[i] + s[i + 2 :]
                if self.check(cand) is None:
                    out.add(cand)
        out.discard(s)
        return sorted(out)


@dataclass(frozen=True, slots=True)
class IdCheck:
    normalized: str
    #: The 18-digit form when valid (15-digit numbers converted), else None.
    id18: str | None
    reason: str | None
    legacy15: bool

    @property
    def valid(self) -> bool:
        return self.reason is None


_FULLWIDTH: dict[int, int | None] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH.update({0x3000: None, 0x20: None, 0x2D: None, 0x09: None, 0xA0: None})
_FULLWIDTH[ord("x")] = ord("X")
_FULLWIDTH[0xFF58] = ord("X")  # full-width small x


def normalize(raw: str | None) -> str:
    """Trim, drop inner spaces and hyphens, full-width to half-width, `x` to `X`."""
    if not raw:
        return ""
    return raw.translate(_FULLWIDTH)


def to18(id15: str) -> str:
    """Convert a legacy 15-digit number to its 18-digit form (century 19, computed check char)."""
    if len(id15) != 15 or not id15.isdigit():
        raise ValueError("not a 15-digit identity number")
    body = id15[:6] + "19" + id15[6:]
    return body + check_char(body)


def to15(id18: str) -> str:
    """The legacy 15-digit form of an 18-digit number born in the 1900s (for synthetic legacy data)."""
    if len(id18) != 18 or id18[6:8] != "19":
        raise ValueError("only 18-digit numbers born 1900-1999 have a 15-digit form")
    return id18[:6] + id18[8:17]


def birth_date(id18: str) -> date:
    return date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))


def sex_code(id18: str) -> str:
    """GB/T 2261.1 sex code from the sequence digit: '1' male (odd), '2' female (even)."""
    return "1" if int(id18[16]) % 2 == 1 else "2"


def area_code(id18: str) -> str:
    return id18[:6]


def make(area: str, born: date, seq: int, male: bool) -> str:
    """Build a valid 18-digit number; `seq` 0..499 picks the sequence pair, parity follows sex."""
    s3 = (seq % 500) * 2 + (1 if male else 0)
    body = f"{area}{born:%Y%m%d}{s3:03d}"
    return body + check_char(body)
