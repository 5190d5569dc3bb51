"""Tables of the org-unit tree and the facility registry."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from phip.store.db import Base


class OrgUnit(Base):
    """One node of the administrative tree. `path` is the materialised path of codes
    (`620000/620100/620102/`) so that descendants are one indexed prefix scan."""

    __tablename__ = "org_unit"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(12), index=True)
    depth: Mapped[int] = mapped_column(Integer)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("org_unit.code"), index=True)
    path: Mapped[str] = mapped_column(String(80), index=True, unique=True)
    #: town / township / subdistrict / special for township level; village / community for villages
    kind: Mapped[str] = mapped_column(String(16), default="")
    in_gbt2260: Mapped[bool] = mapped_column(Boolean, default=True)


class Facility(Base):
    """A health facility attached to the org unit it serves, with a stable platform code."""

    __tablename__ = "facility"

    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    type_code: Mapped[str] = mapped_column(String(8), index=True)
    tier: Mapped[str] = mapped_column(String(10), index=True)
    grade_code: Mapped[str | None] = mapped_column(String(4))
    org_unit_code: Mapped[str] = mapped_column(ForeignKey("org_unit.code"), index=True)
    #: The org unit's path, copied for scoping queries (`path LIKE '620000/620100/%'`).
    path: Mapped[str] = mapped_column(String(80), index=True)
    county_code: Mapped[str] = mapped_column(String(6), index=True)
    prefecture_code: Mapped[str] = mapped_column(String(6), index=True)
    beds: Mapped[int] = mapped_column(Integer, default=0)
    staff: Mapped[int] = mapped_column(Integer, default=0)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    connected_since: Mapped[date | None] = mapped_column(Date)
    referral_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: where the facility is (WGS 84), when the registry says
    longitude: Mapped[float | None] = mapped_column(Float)
    latitude: Mapped[float | None] = mapped_column(Float)


class Population(Base):
    """Resident population of an org unit (normally a township) by year, sex and age group, as
    the statistics bureau reports it: the denominator of population-based indicators."""

    __tablename__ = "population"

    org_unit_code: Mapped[str] = mapped_column(ForeignKey("org_unit.code"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    sex: Mapped[str] = mapped_column(String(8), primary_key=True)  # FHIR gender code
    age_group: Mapped[str] = mapped_column(String(8), primary_key=True)  # standards.agegroups
    residents: Mapped[int] = mapped_column(Integer)
