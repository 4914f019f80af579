"""Who may read which figures: admins their subtree, organisers (and the admins above) their organisation.

Every rule here reuses app/services/access.py, so a street admin asking for another street gets the
same `not_admin_of_region` (403) as everywhere else in the API.
"""

from __future__ import annotations

from app.services import access, regions
from models import Organization, Region

_READING = "查看统计指标"


def region(account_id: int, region_id: int | None) -> Region:
    """The region asked for (404 if none), if the caller administers it; by default their top region."""
    if region_id is None:
        paths = access.admin_region_paths(account_id)
        if not paths:
            raise access.not_admin_of_region(_READING)
        # The top one: the shortest path (the highest level); among equals the first by path.
        top = min(paths, key=lambda path: (path.count("/"), path))
        return regions.get_region(int(top.strip("/").split("/")[-1]))
    return access.require_admin_over(account_id, regions.get_region(region_id), doing=_READING)


def organization(account_id: int, organization_id: int) -> Organization:
    """The organisation if the caller organises it or administers a region above it."""
    return access.require_overseer(account_id, access.organization(organization_id), doing=_READING)
