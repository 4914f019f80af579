"""Organisations: any account applies, admins review them within their region subtree, organisers
keep their profile; the applicant becomes the first organiser on approval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app import credit_code as credit_codes
from app.errors import Conflict, DomainError
from app.extensions import db
from app.services import access, audit, regions, roles
from models import Account, Organization, OrganizationKind, OrganizationStatus, Region, Role

# What organisers change themselves; the name and the credit code change only through an admin.
PROFILE_FIELDS = frozenset({"contact_name", "contact_mobile", "address", "description"})


@dataclass(frozen=True)
class Application:
    name: str
    credit_code: str
    region_id: int
    kind: OrganizationKind
    contact_name: str
    contact_mobile: str
    address: str | None = None
    description: str | None = None


def apply(account: Account, form: Application, *, now: datetime) -> Organization:
    """File an organisation for review (pending) in an open region; the applicant is kept."""
    try:
        code = credit_codes.validate(form.credit_code)
    except ValueError as problem:
        raise DomainError("invalid_credit_code", str(problem), 422, fields={"credit_code": str(problem)}) from None
    region = regions.require_open(form.region_id)
    _require_free(form.name, code)
    organization = Organization(name=form.name, credit_code=code, region_id=region.id, kind=form.kind,
                                contact_name=form.contact_name, contact_mobile=form.contact_mobile,
                                address=form.address, description=form.description, applicant_account_id=account.id,
                                status=OrganizationStatus.PENDING, created_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(organization)
    except IntegrityError:
        _require_free(form.name, code)  # the other applicant committed first: name which key clashed
        raise
    audit.record(account.id, "organization.applied", "organization", organization.id, now=now,
                 region_path=region.path, region_id=region.id, kind=form.kind.value)
    return organization


def _require_free(name: str, code: str) -> None:
    if db.session.scalar(select(Organization.id).where(Organization.name == name)):
        raise Conflict("organization_name_taken", "该组织名称已被使用", fields={"name": "已被使用"})
    if db.session.scalar(select(Organization.id).where(Organization.credit_code == code)):
        raise Conflict("credit_code_taken", "该统一社会信用代码已登记过组织", fields={"credit_code": "已登记"})


def visible(account_id: int, organization_id: int) -> Organization:
    """The organisation for its organisers, the admins above it and its applicant; others get not-found."""
    organization = access.organization(organization_id)
    if organization.applicant_account_id == account_id or access.oversees(account_id, organization):
        return organization
    raise access.organization_not_found()


def update_profile(account_id: int, organization_id: int, changes: dict, *, now: datetime) -> Organization:
    """Organisers change the contact, address and description of their organisation."""
    organization = access.require_organizer(account_id, organization_id, doing="修改组织资料", approved=False)
    unknown = set(changes) - PROFILE_FIELDS
    if unknown:
        raise DomainError("not_editable", "这些字段不能修改", 422, fields={name: "不能修改" for name in sorted(unknown)})
    for name, value in changes.items():
        setattr(organization, name, value)
    db.session.flush()
    audit.record(account_id, "organization.updated", "organization", organization.id, now=now, fields=sorted(changes))
    return organization


def list_visible(account: Account, *, status: OrganizationStatus | None, page: int,
                 per_page: int) -> tuple[list[Organization], int]:
    """One page of the organisations in the caller's admin subtrees, organised by the caller or applied for by
    the caller (in any state), oldest first; an account with none of these gets an empty page."""
    paths = access.admin_region_paths(account.id)
    own_ids = access.organized_organization_ids(account.id)
    visible = or_(false(), *(Region.path.startswith(path) for path in paths),
                  Organization.id.in_(own_ids) if own_ids else false(),
                  Organization.applicant_account_id == account.id)
    base = select(Organization).join(Region, Region.id == Organization.region_id).where(visible)
    if status is not None:
        base = base.where(Organization.status == status)
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    rows = db.session.scalars(base.order_by(Organization.created_at, Organization.id)
                              .offset((page - 1) * per_page).limit(per_page))
    return list(rows), total or 0


def review(admin: Account, organization_id: int, *, approve: bool, reason: str | None, now: datetime) -> Organization:
    """Approve or reject a pending organisation in the admin's region subtree."""
    organization = access.organization(organization_id)
    access.require_admin_over(admin.id, organization.region, doing="审核该组织")
    if not approve and not (reason and reason.strip()):
        raise DomainError("reason_required", "驳回组织申请时请填写原因", 422, fields={"reason": "必填"})
    values: dict = {"status": OrganizationStatus.APPROVED if approve else OrganizationStatus.REJECTED}
    if approve:
        values.update(approved_by_account_id=admin.id, approved_at=now)
    else:
        values.update(rejection_reason=reason.strip())
    # Conditional update: of two admins deciding at once, exactly one decision lands.
    changed = db.session.execute(
        update(Organization).where(Organization.id == organization_id,
                                   Organization.status == OrganizationStatus.PENDING)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise Conflict("already_decided", "该组织已审核，无需重复操作")
    db.session.refresh(organization)
    if approve and organization.applicant_account_id is not None:
        roles.grant(organization.applicant_account_id, Role.ORGANIZER, organization_id=organization.id,
                    granted_by_account_id=admin.id, now=now)
    audit.record(admin.id, "organization.approved" if approve else "organization.rejected", "organization",
                 organization.id, now=now, reason=None if approve else reason.strip())
    return organization
