"""Who manages what: one function per question, one error code per rule, one loader per noun.

Every service asks here instead of reading role grants itself, so a rule is written once and a
refusal always carries the same code:

| rule | question | refusal |
|---|---|---|
| an organisation's organisers (组织者) | `is_organizer` | `require_organizer` → 403 `not_organizer` |
| an activity's organisers and its team's captains (队长) | `is_activity_manager`, `activity_manager_condition` (SQL) | `require_activity_manager` → 403 `not_activity_manager` |
| admins (管理员) of a region or of one above it | `is_admin_over` | `require_admin_over` → 403 `not_admin_of_region` |
| admins of a region strictly above (changing a node or its admins) | `is_admin_above` | `require_admin_above` → 403 `not_admin_of_region` |
| an organisation's organisers and the admins above it | `oversees` | `require_overseer` → 403 `not_organizer_or_admin` |
| …and, for the console's lists of it, its teams' captains (for their teams) | `captained_team_ids` | `not_organizer_or_admin(doing, captains_too=True)` |
| a team's captains and its organisation's organisers | `is_team_manager` | `require_team_manager` → 403 `not_team_manager` |
| organisers and admins, within their regions | `review_scope_paths` | `require_reviewer` → 403 `not_a_reviewer` |
| a reward station's organisers and the operators they name (核销员) | `is_station_operator` | `require_station_operator` → 403 `not_station_operator` |
| console users: an approved volunteer (to apply for an organisation) or any organiser, captain or admin grant | `is_console_user` | `require_console_user` → 403 `no_console_role` |
| the organisations that recorded a volunteer's service (谁记录谁证明), read by their overseers wherever the volunteer moved | `recorder_ids_overseen` | (the directory answers `volunteer_not_found`) |

The loaders `activity`, `organization` and `team` raise the noun's one not-found code; a caller
that must hide a row it found (a draft, another organisation's activity) raises the same error
through `activity_not_found()`, `organization_not_found()` or `team_not_found()`.

The scan path checks access inside its one query: it embeds `activity_manager_condition` and
raises `not_activity_manager(doing)` when the row says no, so the rule and the code are still these.
"""

from __future__ import annotations

from sqlalchemy import Exists, exists, or_, select

from app.errors import Forbidden, NotFound
from app.extensions import db
from app.services import regions
from models import (Activity, ActivityStatus, Organization, OrganizationStatus, Region, Role, RoleGrant, ServiceRecord,
                    StationOperator, Team, Volunteer, VolunteerStatus)


# --- loaders: one per noun, one not-found code each --------------------------------------------------

def activity_not_found() -> NotFound:
    """The one refusal for an activity that does not exist or that the caller may not see."""
    return NotFound("activity_not_found", "找不到该活动")


def activity(activity_id: int, *, lock: bool = False, hide_drafts: bool = False,
             drafts_seen_by: int | None = None) -> Activity:
    """The activity, or activity_not_found; drafts are hidden with `hide_drafts`, or from all but
    the organisers of its organisation with `drafts_seen_by`.

    `lock` reads it FOR UPDATE and fresh: seat counts change through UPDATE statements, so a cached
    copy must not be trusted.
    """
    if lock:
        found = db.session.scalar(select(Activity).where(Activity.id == activity_id).with_for_update()
                                  .execution_options(populate_existing=True))
    else:
        found = db.session.get(Activity, activity_id)
    if found is None:
        raise activity_not_found()
    if found.status is ActivityStatus.DRAFT and (
            hide_drafts or (drafts_seen_by is not None and not is_organizer(drafts_seen_by, found.organization_id))):
        raise activity_not_found()
    return found


def organization_not_found() -> NotFound:
    """The one refusal for an organisation that does not exist or that the caller may not see."""
    return NotFound("organization_not_found", "找不到该组织")


def organization(organization_id: int) -> Organization:
    """The organisation, or organization_not_found."""
    found = db.session.get(Organization, organization_id)
    if found is None:
        raise organization_not_found()
    return found


def team_not_found() -> NotFound:
    """The one refusal for a team that does not exist or that the caller may not see."""
    return NotFound("team_not_found", "找不到该队伍")


def team(team_id: int, *, lock: bool = False) -> Team:
    """The team, or team_not_found."""
    found = db.session.scalar(select(Team).where(Team.id == team_id).with_for_update()) if lock \
        else db.session.get(Team, team_id)
    if found is None:
        raise team_not_found()
    return found


# --- organisers of an organisation ----------------------------------------------------------------------

def is_organizer(account_id: int, organization_id: int) -> bool:
    """Whether the account organises the organisation."""
    return db.session.scalar(select(RoleGrant.id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.ORGANIZER,
        RoleGrant.organization_id == organization_id).limit(1)) is not None


def organizer_account_ids(organization_id: int) -> list[int]:
    """The accounts that organise the organisation (e.g. to tell them something), in grant order."""
    return list(db.session.scalars(select(RoleGrant.account_id).where(
        RoleGrant.role == Role.ORGANIZER, RoleGrant.organization_id == organization_id).order_by(RoleGrant.id)))


def organized_organization_ids(account_id: int) -> list[int]:
    """Ids of the organisations the account organises, whatever their review state."""
    return sorted(set(db.session.scalars(select(RoleGrant.organization_id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.ORGANIZER))))


def require_organizer(account_id: int, organization_id: int, *, doing: str, approved: bool = True) -> Organization:
    """The organisation if the account organises it (and, with `approved`, it passed review)."""
    found = organization(organization_id)
    if not is_organizer(account_id, organization_id):
        raise Forbidden("not_organizer", f"只有本组织的组织者可以{doing}")
    if approved and found.status is not OrganizationStatus.APPROVED:
        raise Forbidden("organization_not_approved", f"组织通过审核后才能{doing}")
    return found


# --- a reward station: its organisers and the operators they name ------------------------------------

def is_station_operator(account_id: int, organization_id: int) -> bool:
    """Whether the account may hand rewards over at the organisation's station: an organiser or a named operator.

    Organisers always may, so removing the last operator leaves the station able to scan.
    """
    return is_organizer(account_id, organization_id) or db.session.scalar(select(StationOperator.id).where(
        StationOperator.organization_id == organization_id, StationOperator.account_id == account_id)) is not None


def require_station_operator(account_id: int, organization_id: int, *, doing: str) -> Organization:
    """The organisation if the account is one of its station's organisers or operators."""
    found = organization(organization_id)
    if not is_station_operator(account_id, organization_id):
        raise Forbidden("not_station_operator", f"只有本兑换点的核销员或组织者可以{doing}")
    return found


# --- managers of an activity: its organisation's organisers, its team's captains --------------------------

def activity_manager_condition(account_id: object) -> Exists:
    """The rule as a SQL condition on `Activity` (for one-query checks such as the scan's)."""
    return exists().where(
        RoleGrant.account_id == account_id,
        ((RoleGrant.role == Role.ORGANIZER) & (RoleGrant.organization_id == Activity.organization_id))
        | ((RoleGrant.role == Role.CAPTAIN) & (RoleGrant.team_id == Activity.team_id)),
    )


def is_activity_manager(account_id: int, activity_row: Activity) -> bool:
    """Whether the account organises the activity's organisation or captains its team."""
    return bool(db.session.scalar(select(activity_manager_condition(account_id))
                                  .where(Activity.id == activity_row.id)))


def not_activity_manager(doing: str) -> Forbidden:
    """The one refusal for a caller who does not manage the activity."""
    return Forbidden("not_activity_manager", f"只有本活动的组织者或所属队伍的队长可以{doing}")


def require_activity_manager(account_id: int, activity_row: Activity, *, doing: str) -> Activity:
    """The activity if the account manages it."""
    if not is_activity_manager(account_id, activity_row):
        raise not_activity_manager(doing)
    return activity_row


# --- admins of a region ---------------------------------------------------------------------------

def admin_region_paths(account_id: int) -> list[str]:
    """Region paths of the subtrees the account administers (admin grants only)."""
    return sorted(set(db.session.scalars(select(Region.path).join(RoleGrant, RoleGrant.region_id == Region.id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.ADMIN))))


def is_admin_over(account_id: int, region: Region) -> bool:
    """Whether the account is an admin of the region or of a region above it."""
    return any(regions.is_within(region, path) for path in admin_region_paths(account_id))


def not_admin_of_region(doing: str) -> Forbidden:
    """The one refusal for a caller who administers neither the region nor one above it."""
    return Forbidden("not_admin_of_region", f"只有该地区（或上级地区）的管理员可以{doing}")


def require_admin_over(account_id: int, region: Region, *, doing: str) -> Region:
    """The region if the account is an admin of it or of a region above it."""
    if not is_admin_over(account_id, region):
        raise not_admin_of_region(doing)
    return region


def nearest_admin_account_ids(region_id: int) -> list[int]:
    """Who answers for a region's queue: its admins, else those of the nearest region above it that has any."""
    region = regions.get_region(region_id)
    for ancestor_id in reversed(regions.lineage_ids(region)):
        found = list(db.session.scalars(select(RoleGrant.account_id).where(
            RoleGrant.role == Role.ADMIN, RoleGrant.region_id == ancestor_id).order_by(RoleGrant.id)))
        if found:
            return sorted(set(found))
    return []


def is_admin_above(account_id: int, region: Region) -> bool:
    """Whether the account is an admin of a region strictly above this one (not of the region itself only)."""
    return region.parent_id is not None and is_admin_over(account_id, regions.get_region(region.parent_id))


def require_admin_above(account_id: int, region: Region, *, doing: str) -> Region:
    """The region if the account administers one strictly above it: admins change the nodes below their own."""
    if not is_admin_above(account_id, region):
        raise not_admin_of_region(doing)
    return region


# --- overseers of an organisation: its organisers and the admins above it -----------------------------

def oversees(account_id: int, organization_row: Organization) -> bool:
    """Whether the account organises the organisation or is an admin of its region or one above."""
    return (is_organizer(account_id, organization_row.id)
            or is_admin_over(account_id, regions.get_region(organization_row.region_id)))


def not_organizer_or_admin(doing: str, *, captains_too: bool = False) -> Forbidden:
    """The one refusal for a caller who does not oversee the organisation (nor, where they count, captain in it)."""
    who = "本组织的组织者、队长或上级地区的管理员" if captains_too else "本组织的组织者或上级地区的管理员"
    return Forbidden("not_organizer_or_admin", f"只有{who}可以{doing}")


def require_overseer(account_id: int, organization_row: Organization, *, doing: str) -> Organization:
    """The organisation if the account oversees it."""
    if not oversees(account_id, organization_row):
        raise not_organizer_or_admin(doing)
    return organization_row


def captained_team_ids(account_id: int, organization_id: int) -> list[int]:
    """Ids of the organisation's teams the account captains, in id order."""
    return list(db.session.scalars(select(Team.id).join(RoleGrant, RoleGrant.team_id == Team.id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.CAPTAIN,
        Team.organization_id == organization_id).order_by(Team.id)))


# --- managers of a team: its captains and its organisation's organisers ----------------------------------

def is_captain(account_id: int, team_id: int) -> bool:
    """Whether the account is a captain of the team."""
    return db.session.scalar(select(RoleGrant.id).where(
        RoleGrant.account_id == account_id, RoleGrant.role == Role.CAPTAIN,
        RoleGrant.team_id == team_id).limit(1)) is not None


def require_team_manager(account_id: int, team_row: Team, *, doing: str) -> Team:
    """The team if the account captains it, or organises its (approved) organisation."""
    if is_captain(account_id, team_row.id):
        return team_row
    if is_organizer(account_id, team_row.organization_id):
        require_organizer(account_id, team_row.organization_id, doing=doing)
        return team_row
    raise Forbidden("not_team_manager", f"只有本队所属组织的组织者或本队队长可以{doing}")


# --- who may log in to the web console ---------------------------------------------------------------

def is_console_user(account_id: int) -> bool:
    """Whether the account holds a role the console serves, or is an approved volunteer (who may apply there)."""
    has_role = exists().where(RoleGrant.account_id == account_id,
                              RoleGrant.role.in_((Role.ORGANIZER, Role.CAPTAIN, Role.ADMIN)))
    is_volunteer = exists().where(Volunteer.account_id == account_id, Volunteer.status == VolunteerStatus.APPROVED)
    return bool(db.session.scalar(select(or_(has_role, is_volunteer))))


def require_console_user(account_id: int) -> None:
    """Refuse an account with neither a role nor an approved registration: the console has nothing for it."""
    if not is_console_user(account_id):
        raise Forbidden("no_console_role", "管理后台仅供已登记的志愿者和组织者、队长、地区管理员使用，"
                                           "请先在小程序中完成志愿者登记")


# --- reviewers of volunteer registrations ---------------------------------------------------------

def review_scope_paths(account_id: int) -> list[str]:
    """Region paths whose volunteers the account may review: organisers' and admins' regions."""
    organizer_paths = select(Region.path).join(Organization, Organization.region_id == Region.id).join(
        RoleGrant, RoleGrant.organization_id == Organization.id,
    ).where(RoleGrant.account_id == account_id, RoleGrant.role == Role.ORGANIZER,
            Organization.status == OrganizationStatus.APPROVED)
    return sorted(set(db.session.scalars(organizer_paths)) | set(admin_region_paths(account_id)))


def require_reviewer(account_id: int) -> list[str]:
    """The account's review scopes; refuse accounts that have none."""
    paths = review_scope_paths(account_id)
    if not paths:
        raise Forbidden("not_a_reviewer", "只有组织者或地区管理员可以审核志愿者注册")
    return paths


# --- recorders of a volunteer's service: they keep reading what they recorded -------------------------

def recorder_ids(volunteer_id: int) -> list[int]:
    """Ids of the organisations whose activities hold service records of the volunteer, in id order."""
    return list(db.session.scalars(select(Activity.organization_id).join(
        ServiceRecord, ServiceRecord.activity_id == Activity.id).where(
        ServiceRecord.volunteer_id == volunteer_id).distinct().order_by(Activity.organization_id)))


def recorder_ids_overseen(account_id: int, volunteer_id: int) -> list[int]:
    """Ids of the organisations that recorded the volunteer's service and that the account oversees.

    Region scope (`review_scope_paths`) follows the volunteer's home community, which a transfer
    moves; the records do not move (谁记录谁证明), so their recorder's organisers and the admins above
    it read them by this rule wherever the volunteer lives now.
    """
    found = []
    for organization_id in recorder_ids(volunteer_id):
        if oversees(account_id, organization(organization_id)):
            found.append(organization_id)
    return found
