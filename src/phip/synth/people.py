"""Residents and households of one township, drawn from the census age/sex structure and the
county's ethnic mix, then assembled into households (couples, children with mothers 20-40 years
older, elderly parents living with a child or alone). Twins share a birth date and household."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from phip.standards import idcard
from phip.synth import names
from phip.synth.demography import AgeSexModel


@dataclass(slots=True)
class Person:
    pid: str
    name: str
    male: bool
    birth: date
    ethnicity: str
    id18: str
    phone: str | None
    village: str
    household: str
    relation: str  # v3 RoleCode to the head: ONESELF, SPS, CHILD, PRN (parent), GRNDCHILD, FAMMEMB
    head_pid: str = ""
    twin_of: str | None = None
    deceased: date | None = None
    poverty: bool = False
    hypertension: bool = False
    diabetes: bool = False
    ehealth_card: str | None = None
    employee_insurance: bool = False
    mother_pid: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def age_on(self, d: date) -> int:
        return d.year - self.birth.year - ((d.month, d.day) < (self.birth.month, self.birth.day))


@dataclass
class Household:
    hid: str
    village: str
    members: list[Person]
    address_no: int


def _mobile(rng: random.Random) -> str:
    return rng.choice(("13", "15", "17", "18", "19")) + f"{rng.randrange(10**9):09d}"


def _birth(rng: random.Random, age: int, ref: date) -> date:
    # a uniformly random day of the year in which the person was `age` on `ref`
    start = date(ref.year - age - 1, ref.month, ref.day) + timedelta(days=1)
    return start + timedelta(days=rng.randrange(365))


class IdAllocator:
    """Unique sequence numbers per (area, birth date, sex) within this township's block of the
    3-digit sequence space (the block is reserved for the township within its id area)."""

    def __init__(self, area: str, block: int, block_size: int):
        self.area, self.base, self.size = area, block * block_size, block_size
        self.used: dict[tuple[date, bool], int] = {}

    def make(self, born: date, male: bool) -> str:
        k = (born, male)
        n = self.used.get(k, 0)
        self.used[k] = n + 1
        seq = (self.base + n) % 500 if n < self.size else (self.base + self.size * (n // self.size) + n) % 500
        return idcard.make(self.area, born, seq, male)


def build_township(
    rng: random.Random,
    township: str,
    n_people: int,
    villages: list[str],
    model: AgeSexModel,
    ethnic_codes: list[str],
    ethnic_cum: list[float],
    ids: IdAllocator,
    ref: date,
    twin_share: float,
    pid_start: int = 0,
    hid_start: int = 0,
) -> list[Household]:
    """Draw `n_people` residents and assemble them into households in `villages`."""
    ages: list[int] = []
    males: list[bool] = []
    top = model.cum_weights[-1]
    for _ in range(n_people):
        a = bisect.bisect_left(model.cum_weights, rng.random() * top)
        ages.append(a)
        males.append(rng.random() < model.male_prob[a])
    counter = [pid_start]

    def new_person(
        age: int, male: bool, eth: str, surname: str | None, village: str, born: date | None = None
    ) -> Person:
        counter[0] += 1
        b = born or _birth(rng, age, ref)
        return Person(
            pid=f"{township}{counter[0]:06d}",
            name=names.full_name(rng, male, eth, surname),
            male=male,
            birth=b,
            ethnicity=eth,
            id18=ids.make(b, male),
            phone=_mobile(rng) if age >= 16 and rng.random() < 0.93 else None,
            village=village,
            household="",
            relation="ONESELF",
        )

    def eth_draw() -> str:
        return ethnic_codes[bisect.bisect_left(ethnic_cum, rng.random() * ethnic_cum[-1])]

    # Buckets of people by (sex, age), consumed as households are assembled.
    pool: dict[tuple[bool, int], int] = {}
    for a, m in zip(ages, males, strict=True):
        pool[(m, a)] = pool.get((m, a), 0) + 1

    def take(male: bool, lo: int, hi: int) -> int | None:
        if hi < lo:
            return None
        for _ in range(4):
            a = rng.randint(lo, hi)
            if pool.get((male, a), 0) > 0:
                pool[(male, a)] -= 1
                return a
        for a in range(lo, hi + 1):
            if pool.get((male, a), 0) > 0:
                pool[(male, a)] -= 1
                return a
        return None

    households: list[Household] = []
    hid = [hid_start]

    def new_household(members: list[Person]) -> None:
        hid[0] += 1
        h = Household(f"{township}{hid[0]:06d}", members[0].village, members, rng.randint(1, 199))
        head = members[0]
        for p in members:
            p.household = h.hid
            p.village = h.village
            p.head_pid = head.pid
        households.append(h)

    # 1. Couples with children: iterate over women of child-bearing-parent age.
    women = sorted(((a, n) for (m, a), n in pool.items() if not m and 22 <= a <= 75), reverse=True)
    for a_w, n_w in women:
        for _ in range(n_w):
            if pool.get((False, a_w), 0) <= 0 or rng.random() > 0.93:
                continue
            pool[(False, a_w)] -= 1
            village = rng.choice(villages)
            eth = eth_draw()
            a_h = take(True, min(99, a_w), min(99, a_w + 5)) or take(
                True, max(20, a_w - 3), min(99, a_w + 10)
            )
            members: list[Person] = []
            if a_h is not None:
                husband = new_person(a_h, True, eth, None, village)
                members.append(husband)
            wife = new_person(a_w, False, eth if rng.random() < 0.9 else eth_draw(), None, village)
            wife.relation = "SPS" if members else "ONESELF"
            members.append(wife)
            fam_surname = names.surname_of(members[0].name) or None
            # children born when the mother was 21-38
            n_kids = rng.choice((1, 1, 2, 2, 2, 3))
            for _ in range(n_kids):
                lo, hi = max(0, a_w - 38), a_w - 21
                if hi < 0:
                    break
                kid_male = rng.random() < 0.53
                a_c = take(kid_male, lo, min(hi, 29)) if min(hi, 29) >= lo else None
                if a_c is None:
                    continue
                if a_c >= 18 and rng.random() < 0.6:
                    # adult children mostly live elsewhere: put back as independent adult
                    pool[(kid_male, a_c)] = pool.get((kid_male, a_c), 0) + 1
                    continue
                kid = new_person(a_c, kid_male, members[0].ethnicity, fam_surname, village)
                kid.relation = "CHILD"
                kid.mother_pid = wife.pid
                if kid.phone is None:
                    kid.phone = wife.phone or members[0].phone
                members.append(kid)
                if a_c <= 5 and rng.random() < twin_share * 2 and take(not kid_male, a_c, a_c) is not None:
                    twin = new_person(a_c, not kid_male, kid.ethnicity, fam_surname, village, born=kid.birth)
                    twin.relation = "CHILD"
                    twin.mother_pid = wife.pid
                    twin.phone = kid.phone
                    twin.twin_of = kid.pid
                    kid.twin_of = twin.pid
                    members.append(twin)
            # an elderly parent of the husband lives with 40% of couples aged 35-60
            if 35 <= a_w <= 60 and rng.random() < 0.4:
                par_male = rng.random() < 0.45
                a_p = take(par_male, a_w + 22, min(99, a_w + 38))
                if a_p is not None:
                    par = new_person(a_p, par_male, members[0].ethnicity, None, village)
                    par.relation = "PRN"
                    if par.phone is None or rng.random() < 0.3:
                        par.phone = members[0].phone  # shares a child's phone
                    members.append(par)
            new_household(members)

    # 2. Everyone left: children to households where the mother is 20-40 years older (left-behind
    # children live with grandparents otherwise), adults and elderly alone or in pairs.
    left = [(m, a) for (m, a), n in sorted(pool.items()) for _ in range(n)]
    rng.shuffle(left)
    for m, a in left:
        if a < 16 and households:
            host = households[rng.randrange(len(households))]
            kid = new_person(
                a, m, host.members[0].ethnicity, names.surname_of(host.members[0].name) or None, host.village
            )
            kid.relation = "GRNDCHILD" if host.members[0].age_on(ref) - a > 40 else "FAMMEMB"
            kid.phone = kid.phone or host.members[0].phone
            kid.household = host.hid
            kid.head_pid = host.members[0].pid
            host.members.append(kid)
        else:
            p = new_person(a, m, eth_draw(), None, rng.choice(villages))
            new_household([p])
    return households


def add_births(
    rng: random.Random,
    households: list[Household],
    ids: IdAllocator,
    start: date,
    end: date,
    rate: float,
    twin_share: float,
) -> list[Person]:
    """Children born in the period (`rate` births a resident a year, pro rata), each to a wife of
    20-40 in her household, with the family's surname and the mother's ethnic group and phone;
    twins share a birth date. They join the household as children of its head."""
    mothers = [(h, p) for h in households for p in h.members if p.relation == "SPS" and not p.male]
    mothers = [(h, p) for h, p in mothers if 20 <= p.age_on(start) <= 40]
    residents = sum(len(h.members) for h in households)
    if not mothers or not residents:
        return []
    years = ((end - start).days + 1) / 365.25
    chance = min(1.0, rate * years * residents / len(mothers))
    next_no = max(int(p.pid[-6:]) for h in households for p in h.members) + 1
    born: list[Person] = []
    for h, mother in mothers:
        if rng.random() >= chance:
            continue
        day = start + timedelta(days=rng.randrange((end - start).days + 1))
        surname = names.surname_of(h.members[0].name) or None
        male = rng.random() < 0.53
        twins = [male, not male] if rng.random() < twin_share else [male]
        kids = []
        for sex in twins:
            kid = Person(
                pid=f"{mother.pid[:-6]}{next_no:06d}",
                name=names.full_name(rng, sex, mother.ethnicity, surname),
                male=sex,
                birth=day,
                ethnicity=mother.ethnicity,
                id18=ids.make(day, sex),
                phone=mother.phone or h.members[0].phone,
                village=h.village,
                household=h.hid,
                relation="CHILD",
                head_pid=h.members[0].pid,
                mother_pid=mother.pid,
            )
            next_no += 1
            kids.append(kid)
        if len(kids) == 2:
            kids[0].twin_of, kids[1].twin_of = kids[1].pid, kids[0].pid
        h.members.extend(kids)
        born.extend(kids)
    return born
