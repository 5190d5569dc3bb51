"""Chinese personal names: surname splitting and pinyin with surname readings.

pypinyin reads characters by their most common reading; as surnames several read differently
(单 shan, 曾 zeng, 解 xie, 朴 piao, 乐 yue, 区 ou, 仇 qiu, 查 zha, 盖 ge, 缪 miao, 尉迟 yuchi …).
"""

from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin

SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "朴": "piao",
    "乐": "yue",
    "区": "ou",
    "仇": "qiu",
    "查": "zha",
    "盖": "ge",
    "缪": "miao",
    "覃": "qin",
    "翟": "zhai",
    "黑": "he",
    "折": "she",
    "种": "chong",
    "秘": "bi",
    "尉迟": "yuchi",
    "万俟": "moqi",
    "长孙": "zhangsun",
    "冶": "ye",
    "尕": "ga",
}

COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 "
    "司徒 夏侯 轩辕 令狐 钟离 端木 万俟 独孤 南宫 西门".split()
)

MIDDLE_DOT = "·"
_DOTS = ("•", "‧", "∙", "・", "．", "•", ".")


def normalize_name(name: str | None) -> str:
    """Trim, remove inner spaces between hanzi, unify the middle dot of minority names."""
    if not name:
        return ""
    s = name.strip()
    for d in _DOTS:
        s = s.replace(d, MIDDLE_DOT)
    if any("\u4e00" <= ch <= "\u9fff" for ch in s):
        s = s.replace(" ", "").replace("\u3000", "")
    return s


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name). Names with `·` (transliterated minority names) have no surname."""
    s = normalize_name(name)
    if not s or MIDDLE_DOT in s or not ("\u4e00" <= s[0] <= "\u9fff"):
        return "", s
    if len(s) >= 3 and s[:2] in COMPOUND_SURNAMES:
        return s[:2], s[2:]
    return s[:1], s[1:]


@lru_cache(maxsize=65536)
def pinyin_syllables(name: str) -> tuple[str, ...]:
    """Toneless lower-case syllables of a hanzi name, surname read as a surname."""
    s = normalize_name(name).replace(MIDDLE_DOT, "")
    surname, given = split_name(s)
    out: list[str] = []
    if surname:
        if surname in SURNAME_READINGS:
            out.append(SURNAME_READINGS[surname])
        else:
            out.extend(lazy_pinyin(surname, style=Style.NORMAL, v_to_u=False))
        s = given
    out.extend(lazy_pinyin(s, style=Style.NORMAL, v_to_u=False))
    return tuple(p.lower() for p in out if p.strip())


def pinyin_key(name: str) -> str:
    """A compact toneless key: 张丽 → 'zhangli'. Homophone names share it."""
    return "".join(pinyin_syllables(name))


def romanize(name: str) -> str:
    """Passport-style romanisation: 张小丽 → 'Zhang Xiaoli'."""
    surname, _given = split_name(name)
    if not surname:
        return " ".join(p.capitalize() for p in pinyin_syllables(name))
    syl = pinyin_syllables(name)
    n_sur = len(surname)
    return (
        "".join(syl[:n_sur]).capitalize() + " " + "".join(syl[n_sur:]).capitalize()
        if len(syl) > n_sur
        else "".join(syl).capitalize()
    )
