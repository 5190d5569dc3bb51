"""The org-unit tree (province → prefecture → county → township → village) and the facility
registry, stored in the operational database."""

from phip.orgunits.models import Facility, OrgUnit
from phip.orgunits.service import OrgUnitService

__all__ = ["Facility", "OrgUnit", "OrgUnitService"]
