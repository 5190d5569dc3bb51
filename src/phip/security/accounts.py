"""Creating callers: facility clients, staff users and resident accounts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from phip.security.access import policy
from phip.security.models import ApiClient, ResidentAccount, StaffUser
from phip.security.passwords import hash_secret
from phip.security.sessions import revoke_actor


def _changed(session: Session, kind: str, name: str, existed: bool) -> None:
    """An account set again (new secret or password, role, org unit, facility, records) loses
    the sessions it had: tokens issued before the change stop working at once."""
    if existed:
        revoke_actor(session, f"{kind}:{name}")


def add_client(session: Session, client_id: str, secret: str, facility: str) -> ApiClient:
    found = session.get(ApiClient, client_id)
    client = found or ApiClient(client_id=client_id)
    client.secret_hash, client.facility, client.active = hash_secret(secret), facility, True
    session.add(client)
    _changed(session, "facility", client_id, found is not None)
    return client


def add_staff(
    session: Session,
    username: str,
    password: str,
    role: str,
    org_unit: str | None = None,
    facility: str | None = None,
    display_name: str = "",
) -> StaffUser:
    staff = policy().roles_of("staff")
    if role not in staff:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(staff)}")
    needs = policy().roles[role].needs
    if needs == "facility" and not facility:
        raise ValueError(f"role {role} needs a facility")
    if needs == "org_unit" and not org_unit:
        raise ValueError(f"role {role} needs an org unit")
    found = session.get(StaffUser, username)
    user = found or StaffUser(username=username)
    user.password_hash, user.role, user.org_unit, user.facility = (
        hash_secret(password),
        role,
        org_unit,
        facility,
    )
    user.display_name, user.active = display_name, True
    session.add(user)
    _changed(session, "staff", username, found is not None)
    return user


def add_resident(session: Session, username: str, password: str, patient_ids: list[str]) -> ResidentAccount:
    found = session.get(ResidentAccount, username)
    acct = found or ResidentAccount(username=username)
    acct.password_hash, acct.patient_ids, acct.active = hash_secret(password), " ".join(patient_ids), True
    session.add(acct)
    _changed(session, "resident", username, found is not None)
    return acct


KINDS: dict[str, type[StaffUser] | type[ResidentAccount] | type[ApiClient]] = {
    "staff": StaffUser,
    "resident": ResidentAccount,
    "facility": ApiClient,
}


def disable(session: Session, kind: str, name: str, operator: str = "operator:cli") -> int | None:
    """Disable an account and end its sessions at once: the next request with any of its tokens
    is refused. None when there is no such account; else how many live sessions were ended.
    Audited as the operator's action."""
    from phip.security import audit

    model = KINDS.get(kind)
    if model is None:
        raise ValueError(f"unknown account kind {kind!r}; one of {', '.join(KINDS)}")
    account: StaffUser | ResidentAccount | ApiClient | None = session.get(model, name)  # type: ignore[assignment]
    if account is None:
        return None
    account.active = False
    ended = revoke_actor(session, f"{kind}:{name}")
    audit.record(
        session, operator, "operator", "account-disable", f"{kind}:{name}", "ok", f"{ended} sessions ended"
    )
    return ended
