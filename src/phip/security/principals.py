"""Who is calling, and what they may read and write.

Read scope follows the org-unit tree and is turned into a `Scope` the repository applies in SQL:
province-wide roles see everything, prefecture and county roles their subtree, facility roles and
facility clients their facility, residents their own Patient records and what hangs from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from phip.store.repository import Scope

ROLES = {
    "clinician": ("临床医生", "Clinician"),
    "facility_admin": ("机构管理员", "Facility administrator"),
    "county_admin": ("县级管理员", "County administrator"),
    "prefecture_admin": ("市级管理员", "Prefecture administrator"),
    "province_admin": ("省级管理员", "Province administrator"),
    "statistician": ("统计人员", "Statistician"),
    "public_health": ("公共卫生人员", "Public health officer"),
    "auditor": ("审计员", "Auditor"),
}
WRITE_ROLES = frozenset({"facility_client", "clinician", "facility_admin"})
FACILITY_ROLES = frozenset({"facility_client", "clinician", "facility_admin"})
AUDIT_ROLES = frozenset({"auditor", "province_admin"})
#: roles that work with aggregates (indicators, the pseudonymised lake) or with the audit log,
#: never with identified records: least privilege, so a province-wide role that does not treat
#: or steward anyone reads no one's record
NO_RECORD_ROLES = frozenset({"statistician", "auditor"})
#: a scope that matches no record
NO_RECORDS = Scope(facility="~no-records~")  # no facility code has a tilde
#: who decides on the person index (review queue, link, unlink, merge), within their scope
STEWARD_ROLES = frozenset({"province_admin", "prefecture_admin", "county_admin", "facility_admin"})


@dataclass(frozen=True)
class Principal:
    kind: str  # facility / staff / resident
    id: str
    role: str
    facility: str | None = None
    org_path: str | None = None  # for org-unit-scoped roles
    patient_ids: tuple[str, ...] = ()
    #: the id of the token's server-side session (logout ends it)
    session_id: str = ""

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}"

    def scope(self) -> Scope:
        if self.kind == "resident":
            return Scope(patient_ids=self.patient_ids or ("-",))
        if self.role in FACILITY_ROLES:
            return Scope(facility=self.facility or "-")
        if self.role in NO_RECORD_ROLES:
            return NO_RECORDS
        if self.role == "province_admin":
            return Scope()
        return Scope(org_path=self.org_path or "-")

    @property
    def reads_records(self) -> bool:
        return self.role not in NO_RECORD_ROLES

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES and self.facility is not None
