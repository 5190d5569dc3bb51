"""Synthetic Chinese personal names by sex and ethnic group, and the corruptions facility
systems introduce (homophones, dropped characters, pinyin instead of hanzi)."""

from __future__ import annotations

import bisect
import random
from functools import lru_cache

from phip.standards.names import MIDDLE_DOT, pinyin_syllables, romanize, split_name

MALE_CHARS = (
    "伟 强 磊 军 勇 杰 涛 明 超 刚 平 辉 鹏 华 飞 鑫 波 斌 宇 浩 凯 健 俊 帆 旭 宁 龙 林 阳 "
    "建 国 峰 亮 成 东 文 "
    "志 海 晨 博 振 兴 宏 德 荣 福 生 祥 贵 财 兵 虎 江 山 永 忠 学 保 中 "
    "全 喜 银 金 有 义 宝 武 春 锋 瑞 睿 泽 "
    "轩 昊 哲 铭 子 豪 梓 天 一 俊 嘉 鸿 毅 彬 琦 云 立 玉 万 正"
).split()
FEMALE_CHARS = (
    "芳 娜 敏 静 丽 艳 娟 霞 秀 英 梅 琳 玲 燕 红 萍 雪 慧 婷 洁 颖 倩 佳 欣 悦 怡 晶 璐 "
    "丹 琴 兰 凤 莉 月 桂 珍 "
    "花 菊 荣 春 翠 彩 玉 琼 蓉 蕾 薇 妍 瑶 涵 萱 梓 雨 思 诗 "
    "可 心 琪 馨 宁 晓 小 淑 美 娥 巧 香 莲 凤 云 霞"
).split()
HUI_SURNAMES = [
    ("马", 35),
    ("韩", 6),
    ("穆", 4),
    ("丁", 4),
    ("白", 4),
    ("杨", 4),
    ("沙", 3),
    ("哈", 3),
    ("冶", 3),
    ("喇", 2),
    ("米", 2),
    ("海", 2),
    ("纳", 2),
    ("妥", 3),
    ("何", 3),
    ("王", 4),
    ("张", 3),
    ("李", 3),
]
DONGXIANG_SURNAMES = [
    ("马", 40),
    ("妥", 10),
    ("汪", 8),
    ("何", 6),
    ("陕", 4),
    ("唐", 4),
    ("赵", 3),
    ("张", 3),
]
YUGUR_SURNAMES = [("安", 10), ("杜", 8), ("钟", 6), ("贺", 6), ("兰", 5), ("妥", 5), ("郎", 4), ("顾", 3)]
TU_SURNAMES = [("李", 10), ("祁", 8), ("鲁", 6), ("吉", 4), ("星", 3), ("朱", 3)]
TIBETAN_PARTS = (
    "扎西 卓玛 才让 多杰 拉毛 次仁 央金 加措 更登 旦增 拉姆 才旦 尕藏 索南 桑杰 东智 道吉 完玛 德吉 措毛 "
    "吉美 贡保 尼玛 达娃 格桑 曲珍 仁青 李毛 华旦 卓嘎 旺姆 公保 切吉 才吉"
).split()
MONGOL_NAMES_M = "巴特尔 乌力吉 朝鲁 巴雅尔 额尔德尼 苏和 宝音 那顺 毕力格 吉日格勒".split()
MONGOL_NAMES_F = "其其格 萨仁 乌云 斯琴 娜仁 高娃 图雅 塔娜 阿拉坦 琪琪格".split()
KAZAKH_GIVEN_M = "努尔兰 叶尔兰 阿斯哈尔 别克 叶尔肯 哈力克 加恩斯 马合沙提 达吾列提 吐尔逊".split()
KAZAKH_GIVEN_F = "古丽 阿依古丽 热依拉 玛依拉 阿娜尔 加娜尔 努尔加玛丽 库拉依".split()


@lru_cache(maxsize=1)
def _han_surnames() -> tuple[list[str], list[float]]:
    from faker.providers.person.zh_CN import Provider

    names = list(Provider.last_names.keys())
    cum, acc = [], 0.0
    for n in names:
        acc += float(Provider.last_names[n])
        cum.append(acc)
    return names, cum


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    total = sum(w for _, w in table)
    x = rng.random() * total
    for name, w in table:
        x -= w
        if x < 0:
            return name
    return table[-1][0]


def surname(rng: random.Random, ethnicity: str) -> str:
    """A surname for a person of this GB/T 3304 group ('' for groups named without surnames)."""
    if ethnicity in ("03", "35", "47"):
        return _weighted(rng, HUI_SURNAMES)
    if ethnicity == "26":
        return _weighted(rng, DONGXIANG_SURNAMES)
    if ethnicity == "48":
        return _weighted(rng, YUGUR_SURNAMES)
    if ethnicity == "30":
        return _weighted(rng, TU_SURNAMES)
    names, cum = _han_surnames()
    return names[bisect.bisect_left(cum, rng.random() * cum[-1])]


def given_name(rng: random.Random, male: bool) -> str:
    pool = MALE_CHARS if male else FEMALE_CHARS
    if rng.random() < 0.35:
        return rng.choice(pool)
    return rng.choice(pool) + rng.choice(pool)


def full_name(rng: random.Random, male: bool, ethnicity: str, family_surname: str | None = None) -> str:
    """A full name. `family_surname` (the father's) is used for Han-style names when given."""
    if ethnicity == "04":
        return rng.choice(TIBETAN_PARTS) + (rng.choice(TIBETAN_PARTS) if rng.random() < 0.6 else "")
    if ethnicity == "02" and rng.random() < 0.5:
        return rng.choice(MONGOL_NAMES_M if male else MONGOL_NAMES_F)
    if ethnicity == "17":
        given = rng.choice(KAZAKH_GIVEN_M if male else KAZAKH_GIVEN_F)
        return given + MIDDLE_DOT + rng.choice(KAZAKH_GIVEN_M)
    sur = family_surname if family_surname else surname(rng, ethnicity)
    return sur + given_name(rng, male)


def surname_of(name: str) -> str:
    return split_name(name)[0]


@lru_cache(maxsize=1)
def _homophones() -> dict[str, list[str]]:
    chars = set(MALE_CHARS) | set(FEMALE_CHARS)
    chars |= set(
        "铭鸣玮炜俐莉晶菁鹃方桦君虹洪宏雁艳侠琳霖凌灵玲婧敬静军均钧菊桔萍苹坪华骅桦伟卫维薇微丽立力励利"
    )
    chars |= set("明名鸣茗建剑健舰见国果郭红宏洪鸿虹英莹颖影应梅玫媚美芳方放昉霞夏侠瑕")
    groups: dict[str, list[str]] = {}
    for ch in chars:
        groups.setdefault(pinyin_syllables(ch)[0], []).append(ch)
    out: dict[str, list[str]] = {}
    for members in groups.values():
        if len(members) > 1:
            for ch in members:
                out[ch] = sorted(m for m in members if m != ch)
    return out


def homophone_variant(rng: random.Random, name: str) -> str | None:
    """Replace one given-name character by a homophone (明→铭); None if no character has one."""
    sur, given = split_name(name)
    table = _homophones()
    positions = [i for i, ch in enumerate(given) if ch in table]
    if not positions or MIDDLE_DOT in name:
        return None
    i = rng.choice(positions)
    return sur + given[:i] + rng.choice(table[given[i]]) + given[i + 1 :]


def dropped_char_variant(rng: random.Random, name: str) -> str | None:
    """Drop one character of a given name of two or more characters (张小丽 → 张丽)."""
    sur, given = split_name(name)
    if len(given) < 2 or MIDDLE_DOT in name:
        return None
    i = rng.randrange(len(given))
    return sur + given[:i] + given[i + 1 :]


def pinyin_variant(name: str) -> str:
    """The name typed in pinyin, as systems without a Chinese input method record it."""
    return romanize(name)
