"""Identity: the master person index (EMPI) for Chinese residents and the resident e-health card.

`person` normalises records and derives what comparisons need; `compare` holds the comparison
levels shared by batch linkage and real-time matching.
"""

from phip.identity.compare import LEVELS, compare, id_consistency
from phip.identity.person import Person, PersonRecord, derive

__all__ = ["LEVELS", "Person", "PersonRecord", "compare", "derive", "id_consistency"]
