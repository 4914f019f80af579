"""SQLAlchemy models, one module per noun; importing this package registers every table."""

from models.base import Base
from models.regions import Region, RegionLevel, RegionPopulation
from models.organizations import Organization, OrganizationKind, OrganizationStatus
from models.teams import JoinMode, MembershipStatus, Team, TeamKind, TeamMembership
from models.accounts import Account
from models.volunteers import Volunteer, VolunteerStatus, Gender, RegistrationChannel
from models.roles import RoleGrant, Role
from models.audit import AuditLog
from models.notifications import Notification, NotificationStatus, NotificationChannel
from models.callbacks import CallbackReceipt, OfficialFollower
from models.activities import Activity, ActivityKind, ActivityStatus, Evaluation, RiskLevel, SignupMode
from models.signups import Signup, SignupStatus
from models.checkins import ActivityQrCode, Checkin, CheckinMethod, CheckinScan
from models.service_records import CorrectionRequest, CorrectionStatus, RecordKind, RecordSource, ServiceRecord
from models.calendar import LocalFestivalDay
from models.campaigns import Campaign, CampaignStatus
from models.announcements import Announcement, AnnouncementStatus
from models.subscriptions import SubscriptionCredit, SubscriptionGrant
from models.jobs import JobRun
from models.idempotency import IdempotentRequest
from models.region_permits import RegionPermit
from models.exports import Export, ExportStatus
from models.console_sessions import ConsoleLoginLink, ConsoleLoginTicket, ConsoleSession, TicketStatus
from models.kpis import KpiTarget, KpiValue, StatValue
from models.bulletins import Bulletin, BulletinStatus, PdfStatus, QuarterlyReport
from models.uploads import Upload, UploadPurpose
from models.archive import ActivityReport, ArchiveEntry, ArchiveEntryKind, AttendeeEvaluation, VolunteerNumberSequence
from models.transfers import Transfer, TransferKind, TransferStatus
from models.imports import Import, ImportedActivity, ImportedRecord, ImportedVolunteer, ImportKind, ImportStatus
from models.recording import (BulkPreview, Declaration, EntryStatus, RetroactiveAttendee, RetroactiveEntry,
                              ServicePeriod)
from models.certificates import (Certificate, CertificateObjection, CertificatePolicy, CertificateStatus,
                                 ObjectionStatus)
from models.points import PointsAccount, PointsAccountKind, PointsEntry, PointsTransfer, TransferCode
from models.points_rules import PointsEarning, PointsRankingConsent, PointsRule
from models.stars import (OPEN_STAR_STATUSES, StarApplication, StarObjection, StarObjectionStatus, StarOrigin,
                          StarRule, StarStatus)
from models.rewards import (COUNTED_STATUSES, Redemption, RedemptionStatus, Reward, RewardKind, RewardPublisher,
                            RewardStatus, StationOperator)

__all__ = [
    "COUNTED_STATUSES", "Redemption", "RedemptionStatus", "Reward", "RewardKind", "RewardPublisher", "RewardStatus",
    "StationOperator",
    "Base", "Region", "RegionLevel", "RegionPopulation", "Organization", "OrganizationKind", "OrganizationStatus", "Team", "TeamKind", "Account",
    "Volunteer", "VolunteerStatus", "Gender", "RoleGrant", "Role", "AuditLog", "Notification",
    "NotificationStatus", "NotificationChannel", "CallbackReceipt", "OfficialFollower", "JoinMode",
    "MembershipStatus", "TeamMembership", "Activity", "ActivityKind", "ActivityStatus", "Evaluation", "RiskLevel",
    "SignupMode", "Signup", "SignupStatus", "Checkin", "CheckinMethod", "CheckinScan", "RecordKind", "ServiceRecord",
    "CorrectionRequest", "CorrectionStatus", "ActivityQrCode", "LocalFestivalDay",
    "Campaign", "CampaignStatus", "Announcement", "AnnouncementStatus", "SubscriptionCredit", "SubscriptionGrant",
    "JobRun", "IdempotentRequest", "RegionPermit", "ConsoleLoginLink", "ConsoleLoginTicket", "ConsoleSession",
    "TicketStatus", "RegistrationChannel", "KpiTarget", "KpiValue", "StatValue", "Bulletin", "BulletinStatus", "PdfStatus",
    "QuarterlyReport", "Export", "ExportStatus", "RecordSource", "Upload", "UploadPurpose",
    "ActivityReport", "ArchiveEntry", "ArchiveEntryKind", "AttendeeEvaluation", "VolunteerNumberSequence",
    "Transfer", "TransferKind", "TransferStatus",
    "Import", "ImportedActivity", "ImportedRecord", "ImportedVolunteer", "ImportKind", "ImportStatus",
    "ServicePeriod", "BulkPreview", "EntryStatus", "Declaration", "RetroactiveEntry", "RetroactiveAttendee",
    "Certificate", "CertificateObjection", "CertificatePolicy", "CertificateStatus", "ObjectionStatus",
    "PointsAccount", "PointsAccountKind", "PointsEarning", "PointsEntry", "PointsRankingConsent", "PointsRule",
    "PointsTransfer", "TransferCode",
    "StarApplication", "StarObjection", "StarObjectionStatus", "StarOrigin", "StarRule", "StarStatus",
    "OPEN_STAR_STATUSES",
]
