"""The facility plan: villages and every facility of the province at scale 1.0, and the
deterministic subset kept at a smaller scale.

At scale 1.0 the plan holds exactly the reference counts (267 hospitals, 1,768 township and
community centres, 15,451 village clinics, one clinic per administrative village). The plan does
not depend on the seed, so facility codes are stable; the subset at scale S is the
`round(N·S)` facilities of each tier with the smallest stable hash of their code (at least one
per tier, and at least one tertiary and one secondary hospital), so a smaller province's
facilities are a subset of a larger one's.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from datetime import date

from phip.standards.divisions import Divisions
from phip.synth.config import CONNECTION_RATES, FULL_FACILITY_COUNTS, REFERRAL_COVERAGE
from phip.synth.demography import TOWNSHIP_WEIGHTS, largest_remainder

VILLAGE_STEMS = (
    "王家 李家 张家 刘家 杨家 马家 赵家 陈家 何家 魏家 牛家 苟家 雒家 包家 罗家 贾家 韩家 田家 "
    "东 西 南 北 上 下 前 后 大 小 新 老 红 石 柳 杏 沙 水 河 山 高 黄 白 金 银 青 花 桃 枣 榆 槐 松 马 龙 "
    "团结 红星 光明 胜利 和平 东风 新民 永丰 丰收 幸福"
).split()
VILLAGE_SUFFIXES = "湾 沟 坪 庄 堡 寨 滩 塬 川 岔 台 岭 咀 洼 峡 坡 磨 营 渠 梁 峪 坝 屯 村".split()
COMMUNITY_WORDS = (
    "东关 西关 南关 北关 建设路 解放路 和平 幸福 文化 民主 团结 新华 兴隆 滨河 五一 光华 安宁 工农 育才 金城"
).split()


@dataclass(frozen=True, slots=True)
class Village:
    code: str
    name: str
    township: str
    kind: str  # village / community


@dataclass(frozen=True, slots=True)
class PlannedFacility:
    code: str
    name: str
    type_code: str
    tier: str
    grade_code: str | None
    org_unit_code: str
    county_code: str
    prefecture_code: str
    beds: int
    staff: int
    connected: bool
    connected_since: date | None
    referral_enabled: bool
    priority: str  # stable hash used for the scaled subset
    #: licensed doctors among the staff; -1: the tier's usual share (`default_doctors`)
    doctors: int = -1


def default_doctors(tier: str, staff: int) -> int:
    """Doctors among a facility's staff: two in five, at least one (a village clinic's staff are
    all village doctors)."""
    return staff if tier == "village" else max(1, round(staff * 0.4))


@dataclass
class FacilityPlan:
    villages: list[Village]
    facilities: list[PlannedFacility]

    def by_tier(self, tier: str) -> list[PlannedFacility]:
        return [f for f in self.facilities if f.tier == tier]

    def counts(self) -> dict[str, int]:
        out = {t: 0 for t in FULL_FACILITY_COUNTS}
        for f in self.facilities:
            out[f.tier] += 1
        return out

    def connected_counts(self) -> dict[str, int]:
        out = {t: 0 for t in FULL_FACILITY_COUNTS}
        for f in self.facilities:
            out[f.tier] += f.connected
        return out


def _h(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def _villages(divisions: Divisions) -> list[Village]:
    rural = [t for t in divisions.townships() if t.kind in ("town", "township")]
    quotas = {t.code: FULL_FACILITY_COUNTS["village"] * TOWNSHIP_WEIGHTS[t.kind] for t in rural}
    total_w = sum(quotas.values())
    counts = largest_remainder({k: v * FULL_FACILITY_COUNTS["village"] / total_w for k, v in quotas.items()})
    out: list[Village] = []
    for t in divisions.townships():
        rng = random.Random(_h("villages", t.code))
        n_comm = {"subdistrict": 6, "town": 1, "special": 1}.get(t.kind, 0)
        used: set[str] = set()
        for i in range(n_comm):
            name = ""
            while not name or name in used:
                name = rng.choice(COMMUNITY_WORDS) + ("社区" if rng.random() < 0.8 else "街社区")
                if name in used:
                    name = rng.choice(COMMUNITY_WORDS) + rng.choice("东西南北新") + "社区"
            used.add(name)
            out.append(Village(f"{t.code}{i + 1:03d}", name, t.code, "community"))
        for i in range(counts.get(t.code, 0)):
            name = ""
            tries = 0
            while not name or name in used:
                tries += 1
                stem = rng.choice(VILLAGE_STEMS)
                suffix = rng.choice(VILLAGE_SUFFIXES)
                name = stem + suffix + ("" if suffix == "村" else "村")
                if tries > 20:
                    name = stem + rng.choice(VILLAGE_SUFFIXES) + f"{tries}村"
            used.add(name)
            out.append(Village(f"{t.code}{200 + i + 1:03d}", name, t.code, "village"))
    return out


def _seat(divisions: Divisions, pref: str) -> str:
    counties = [c for c in divisions.children(pref) if c.level == "county"]
    for c in counties:
        if c.name.endswith("区") or (c.name.endswith("市") and c.in_gbt2260):
            return c.code
    return counties[0].code


def _attrs(code: str, tier: str, grade: str | None) -> tuple[int, int]:
    rng = random.Random(_h("attrs", code))
    level = int(grade[0]) if grade else 0
    if tier == "hospital":
        beds = {3: rng.randint(800, 2500), 2: rng.randint(150, 600), 1: rng.randint(40, 120)}.get(level, 60)
        staff = int(beds * rng.uniform(1.1, 1.6))
    elif tier == "primary":
        beds = rng.randint(10, 60)
        staff = rng.randint(12, 60)
    else:
        beds = 0
        staff = rng.choice((1, 1, 2, 2, 3))
    return beds, staff


def full_plan(divisions: Divisions) -> FacilityPlan:
    """Every facility of the province at scale 1.0 (independent of any seed)."""
    villages = _villages(divisions)
    prov = divisions.get(divisions.province)
    assert prov is not None
    raw: list[tuple[str, str, str, str | None, str]] = []  # (name, type, tier, grade, org unit)
    prefs = divisions.prefectures()
    capital = prefs[0].code
    capital_seat = _seat(divisions, capital)
    # Provincial hospitals in the capital.
    provincial = [
        ("人民医院", "A100", "3A"),
        ("第二人民医院", "A100", "3A"),
        ("第三人民医院", "A100", "3B"),
        ("中医医院", "A210", "3A"),
        ("中医院第二附属医院", "A210", "3A"),
        ("肿瘤医院", "A500", "3A"),
        ("妇幼保健院", "A600", "3A"),
        ("精神卫生中心", "A500", "3B"),
        ("传染病医院", "A500", "3B"),
        ("口腔医院", "A500", "3B"),
    ]
    for suffix, t, g in provincial:
        raw.append((f"{prov.name}{suffix}", t, "hospital", g, capital_seat))
    big_prefs = {p.code for p in prefs[:12]}
    for p in prefs:
        seat = _seat(divisions, p.code)
        pname = p.name if len(p.name) <= 4 else p.name.replace("回族自治州", "州").replace("藏族自治州", "州")
        raw.append((f"{pname}第一人民医院", "A100", "hospital", "3A", seat))
        raw.append((f"{pname}中医医院", "A210", "hospital", "3B" if p.code in big_prefs else "2A", seat))
        raw.append((f"{pname}妇幼保健院", "A600", "hospital", "2A", seat))
    counties = [c for c in divisions.counties() if c.in_gbt2260]
    for c in counties:
        raw.append((f"{c.name}人民医院", "A100", "hospital", "2A", c.code))
        raw.append((f"{c.name}中医医院", "A210", "hospital", "2A", c.code))
    # Tertiary county hospitals and the remaining hospitals spread by population weight.
    pop_w = {
        c.code: sum(TOWNSHIP_WEIGHTS[t.kind] for t in divisions.children(c.code) if t.level == "township")
        for c in counties
    }
    by_size = sorted(counties, key=lambda c: (-pop_w[c.code], c.code))
    for c in by_size[:12]:
        raw.append((f"{c.name}第二人民医院", "A100", "hospital", "3B", c.code))
    n_rest = FULL_FACILITY_COUNTS["hospital"] - len(raw)
    extra = largest_remainder(
        {c.code: n_rest * pop_w[c.code] / sum(pop_w.values()) for c in by_size if pop_w[c.code] > 0}
    )
    for c in by_size:
        for i in range(extra.get(c.code, 0)):
            kind = ("A500", "2B") if i % 2 else ("A100", "1A")
            name = f"{c.name}{'专科医院' if kind[0] == 'A500' else '中心医院'}{'' if i < 2 else i}"
            raw.append((name, kind[0], "hospital", kind[1], c.code))
    # Township health centres and community health service centres.
    towns = divisions.townships()
    for town in towns:
        if town.kind in ("town", "township"):
            raw.append((f"{town.name}卫生院", "C100", "primary", None, town.code))
        elif town.kind == "subdistrict":
            raw.append((f"{town.name}社区卫生服务中心", "B100", "primary", None, town.code))
    n_extra = FULL_FACILITY_COUNTS["primary"] - sum(1 for r in raw if r[2] == "primary")
    extra_w = {town.code: {"subdistrict": 3.0, "town": 0.4}.get(town.kind, 0.0) for town in towns}
    extra_w = {k: v for k, v in extra_w.items() if v}
    wsum = sum(extra_w.values())
    extra = largest_remainder({k: n_extra * v / wsum for k, v in extra_w.items()})
    names = {town.code: town.name for town in towns}
    ordinals = "二三四五六七八九十"
    for code in sorted(extra):
        for i in range(extra[code]):
            raw.append((f"{names[code]}第{ordinals[i % 9]}社区卫生服务中心", "B100", "primary", None, code))
    for v in villages:
        if v.kind == "village":
            raw.append((f"{v.name}卫生室", "D400", "village", None, v.code))

    facilities: list[PlannedFacility] = []
    seq: dict[tuple[str, str], int] = {}
    for name, t, tier, grade, unit in raw:
        key = (unit, t)
        seq[key] = seq.get(key, 0) + 1
        code = f"{unit}-{t}-{seq[key]:02d}"
        county = unit[:6]
        beds, staff = _attrs(code, tier, grade)
        facilities.append(
            PlannedFacility(
                code=code,
                name=name,
                type_code=t,
                tier=tier,
                grade_code=grade,
                org_unit_code=unit,
                county_code=county,
                prefecture_code=county[:4] + "00",
                beds=beds,
                staff=staff,
                connected=False,
                connected_since=None,
                referral_enabled=False,
                priority=_h("priority", code),
            )
        )
    return _assign_connection(FacilityPlan(villages, facilities))


def _assign_connection(plan: FacilityPlan) -> FacilityPlan:
    """Connect exactly round(N·rate) facilities per tier and enable referral on 75% of all."""
    out: list[PlannedFacility] = []
    for tier, rate in CONNECTION_RATES.items():
        group = sorted(plan.by_tier(tier), key=lambda f: _h("connect", f.code))
        n_conn = round(len(group) * rate)
        for i, f in enumerate(group):
            rng = random.Random(_h("since", f.code))
            connected = i < n_conn
            since = date(2018 + rng.randint(0, 6), rng.randint(1, 12), 1) if connected else None
            out.append(replace(f, connected=connected, connected_since=since))
    ordered = sorted(out, key=lambda f: _h("referral", f.code))
    n_ref = round(len(ordered) * REFERRAL_COVERAGE)
    ref = {f.code for f in ordered[:n_ref]}
    out = [replace(f, referral_enabled=f.code in ref) for f in out]
    order = {f.code: i for i, f in enumerate(plan.facilities)}
    out.sort(key=lambda f: order[f.code])
    return FacilityPlan(plan.villages, out)


def scaled_plan(full: FacilityPlan, scale: float) -> FacilityPlan:
    """The facilities kept at `scale`, keeping the province's shape however small it is.

    Each tier keeps `round(N·S)` facilities, but never fewer than one per prefecture, so every
    prefecture has a hospital, a centre and a clinic; within a tier the share connected is the
    province's (`round(n·rate)`, at least one connected), so unconnected facilities of every tier
    show up as soon as a tier holds enough facilities for one. Facilities are taken in the order
    of a stable hash of their code (the plan, not the seed, decides), first to cover each
    prefecture, then to fill the tier; hospitals start with the first tertiary and the first
    secondary connected hospital. The kept facilities' beds and staff are then scaled so that each
    tier holds `S` times the province's beds and staff (see `_scale_capacity`): a province of
    5,000 residents has a province's beds and doctors per 1,000 residents, not a hospital's.
    """
    if scale >= 1.0:
        return full
    prefectures = sorted({f.prefecture_code for f in full.facilities})
    keep: list[PlannedFacility] = []
    for tier, n_full in FULL_FACILITY_COUNTS.items():
        group = sorted(full.by_tier(tier), key=lambda f: f.priority)
        n = min(len(group), max(len(prefectures), round(n_full * scale)))
        first = []
        if tier == "hospital":
            first = [next(f for f in group if f.connected and (f.grade_code or "0")[0] == lv) for lv in "32"]
        keep.extend(_pick(group, n, CONNECTION_RATES[tier], prefectures, first))
    kept = {f.code for f in keep}
    subset = FacilityPlan(full.villages, [f for f in full.facilities if f.code in kept])
    return _scale_capacity(full, subset, scale)


def _scale_capacity(full: FacilityPlan, subset: FacilityPlan, scale: float) -> FacilityPlan:
    """Beds and staff of the kept facilities scaled so each tier holds `scale` × the province's
    (largest remainder, so totals are exact; a facility keeps at least one staff member, and a
    hospital at least one bed)."""
    out: dict[str, PlannedFacility] = {}
    for tier in FULL_FACILITY_COUNTS:
        kept = subset.by_tier(tier)
        if not kept:
            continue
        changes: dict[str, dict[str, int]] = {f.code: {} for f in kept}
        for attr in ("beds", "staff"):
            target = scale * sum(getattr(f, attr) for f in full.by_tier(tier))
            have = sum(getattr(f, attr) for f in kept)
            if not have:
                continue
            shares = largest_remainder({f.code: getattr(f, attr) * target / have for f in kept})
            floor = 1 if attr == "staff" or (tier == "hospital" and attr == "beds") else 0
            for code, value in shares.items():
                changes[code][attr] = max(floor, value)
        # doctors too, so doctors per 1,000 residents are the province's: in a province of a few
        # thousand residents, a facility of one or two staff members may have no doctor of its own
        if tier != "village":
            target = scale * sum(default_doctors(tier, f.staff) for f in full.by_tier(tier))
            staff = {f.code: changes[f.code].get("staff", f.staff) for f in kept}
            split = largest_remainder({c: n * target / sum(staff.values()) for c, n in staff.items()})
            for code, n in split.items():
                changes[code]["doctors"] = min(staff[code], n)
        for f in kept:
            c = changes[f.code]
            out[f.code] = replace(
                f,
                beds=c.get("beds", f.beds),
                staff=c.get("staff", f.staff),
                doctors=c.get("doctors", f.doctors),
            )
    return FacilityPlan(subset.villages, [out[f.code] for f in subset.facilities])


def _pick(
    group: list[PlannedFacility], n: int, rate: float, prefectures: list[str], first: list[PlannedFacility]
) -> list[PlannedFacility]:
    """`n` facilities of one tier (in `group`'s order) covering every prefecture, `round(n·rate)`
    of them connected (at least one), starting with `first`."""
    n_conn = max(1, round(n * rate))
    quota = {True: n_conn, False: n - n_conn}
    chosen: dict[str, PlannedFacility] = {}
    for f in first:
        chosen[f.code] = f
        quota[f.connected] -= 1
    covered = {f.prefecture_code for f in chosen.values()}
    for f in group:  # one per prefecture, within the connection quotas
        if f.prefecture_code not in covered and quota[f.connected] > 0:
            chosen[f.code] = f
            quota[f.connected] -= 1
            covered.add(f.prefecture_code)
    for pref in prefectures:  # a prefecture whose facilities all fall outside the quotas
        if pref not in covered:
            f = next(f for f in group if f.prefecture_code == pref)
            chosen[f.code] = f
            quota[f.connected] -= 1
    for f in group:
        if len(chosen) >= n:
            break
        if f.code not in chosen and quota[f.connected] > 0:
            chosen[f.code] = f
            quota[f.connected] -= 1
    return list(chosen.values())
