"""A volunteer's archive (/me/archive, /volunteers/{id}/archive), its award and complaint entries,
attendee evaluations and activity reports (summary and photos)."""

from __future__ import annotations

from datetime import date, datetime
from flask import Blueprint
from pydantic import BaseModel, Field

from app import pii
from app.extensions import api_spec
from app.services import activity_reports, archive, attendee_evaluations, uploads, volunteers
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import Id, MultiLine, QueryArgs, StrictBody, answers, id_path
from models import ArchiveEntryKind, Evaluation, Volunteer

blueprint = Blueprint("archive", __name__, url_prefix="/api/v1")

EARLIEST_DAY = date(1949, 10, 1)


class ArchiveQuery(QueryArgs):
    from_: date | None = Field(default=None, alias="from", description="起始日（含，上海时间），按活动开始日或记录所述日期")
    to: date | None = Field(default=None, description="截止日（含）")


class NamedRef(BaseModel):
    id: int
    name: str


class RecorderView(BaseModel):
    organization_id: int
    organization_name: str = Field(description="记录单位（谁记录谁证明）")
    name: str | None = Field(description="记录人（脱敏）")


class LedgerEntry(BaseModel):
    id: int
    kind: str = Field(description="attendance 签到记录 / correction 更正")
    source: str = Field(description="scan 扫码 / manual 人工更正 / bulk 批量录入 / declaration 自主申报 / "
                                    "retroactive 补录 / import 导入")
    minutes: int
    reason: str | None
    corrects_record_id: int | None
    created_at: datetime
    recorded_by: str | None = Field(description="录入人（脱敏）")


class RecordLine(BaseModel):
    """One activity of the archive, with the fields of the 2012 记录办法."""

    activity_id: int
    name: str = Field(description="活动名称")
    activity_date: date = Field(description="活动日期（上海时间）")
    starts_at: datetime
    ends_at: datetime
    place: str = Field(description="活动地点")
    beneficiary: str | None = Field(description="服务对象")
    content: str = Field(description="服务内容")
    summary: str | None = Field(description="活动总结（组织者填写）")
    minutes: int = Field(description="服务时长（分钟，仅服务时间）")
    hours: float
    evaluation: str | None = Field(description="服务质量评价：excellent 优秀 / qualified 合格 / unqualified 不合格")
    evaluation_note: str | None
    lead: str | None = Field(description="活动负责人")
    organization: NamedRef
    recorder: RecorderView
    sources: list[str] = Field(description="时长的记录方式")
    confirmed: bool
    entries: list[LedgerEntry] = Field(description="台账明细（只增不改，更正为新的记录）")


class EntryOrganization(BaseModel):
    id: int
    name: str | None


class EntryView(BaseModel):
    id: int
    kind: str = Field(description="award 表彰 / complaint 投诉")
    title: str
    detail: str
    issuer: str | None = Field(description="表彰的授予单位，或投诉的来源")
    occurred_on: date
    reason: str = Field(description="记录（或撤销）的依据和原因")
    organization: EntryOrganization | None = Field(description="记录的组织；为空表示地区管理员记录")
    recorded_by: str | None
    created_at: datetime


class ArchiveEntryView(EntryView):
    retraction: EntryView | None = Field(description="撤销记录（已撤销时）")


class EvaluationRevision(BaseModel):
    rating: str
    label: str = Field(description="优秀 / 合格 / 不合格")
    note: str
    revision: int
    evaluated_by: str | None
    evaluated_at: datetime


class ActivityBrief(BaseModel):
    id: int
    title: str
    starts_at: datetime


class EvaluationView(EvaluationRevision):
    activity: ActivityBrief
    history: list[EvaluationRevision] = Field(description="此前的评价（新的在前）")


class ArchiveTotals(BaseModel):
    service_minutes: int
    service_hours: float
    service_activities: int
    training_minutes: int
    trainings: int
    awards: int = Field(description="未撤销的表彰数")
    complaints: int = Field(description="未撤销的投诉数")


class ArchiveHolder(BaseModel):
    id: int
    name: str = Field(description="本人看到全名，组织者和管理员看到脱敏姓名")
    volunteer_number: str | None = Field(description="志愿者编号（审核通过时生成）")
    status: str
    region: NamedRef


class StarLine(BaseModel):
    level: int = Field(description="星级 1–5")
    status: str = Field(description="awarded 已评定 / revoked 已撤销")
    awarded_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None


class ArchiveView(BaseModel):
    volunteer: ArchiveHolder
    star_level: int = Field(description="现有星级（已评定且未撤销的最高星级），0 为未评定")
    stars: list[StarLine] = Field(description="星级评定记录（含已撤销的），新的在前")
    period_from: date | None
    period_to: date | None
    totals: ArchiveTotals
    records: list[RecordLine] = Field(description="服务记录（按活动，新的在前）")
    trainings: list[RecordLine] = Field(description="培训记录")
    awards: list[ArchiveEntryView] = Field(description="表彰")
    evaluations: list[EvaluationView] = Field(description="志愿者评价")
    complaints: list[ArchiveEntryView] = Field(description="投诉")


def _archive_view(found: dict, *, is_owner: bool) -> ArchiveView:
    volunteer: Volunteer = found["volunteer"]
    totals = found["totals"]
    return ArchiveView(
        volunteer=ArchiveHolder(id=volunteer.id, name=(volunteer.real_name if is_owner
                                                       else pii.mask_name(volunteer.real_name) or ""),
                                volunteer_number=volunteer.volunteer_number, status=volunteer.status.value,
                                region=NamedRef(id=volunteer.region.id, name=volunteer.region.name)),
        star_level=found["star_level"], stars=[StarLine.model_validate(line) for line in found["stars"]],
        period_from=found["period"].since, period_to=found["period"].until,
        totals=ArchiveTotals(**totals, service_hours=round(totals["service_minutes"] / 60, 2)),
        records=[RecordLine.model_validate(line) for line in found["records"]],
        trainings=[RecordLine.model_validate(line) for line in found["trainings"]],
        awards=[ArchiveEntryView.model_validate(e) for e in found["awards"]],
        evaluations=[EvaluationView.model_validate(e) for e in found["evaluations"]],
        complaints=[ArchiveEntryView.model_validate(e) for e in found["complaints"]],
    )


@blueprint.get("/me/archive")
@login_required
@api_spec.validate(query=ArchiveQuery, resp=answers(200, ArchiveView, 401, 404, 422), tags=["archive"],
                   security=BEARER_SECURITY)
def my_archive(query: ArchiveQuery):
    """The caller's own archive: service records with the 2012 记录办法's fields, trainings, awards,
    evaluations and complaints, optionally within [from, to]."""
    volunteer = volunteers.own_volunteer(current_account())
    found = archive.archive(volunteer, period=archive.Period(query.from_, query.to))
    return _archive_view(found, is_owner=True)


@blueprint.get(f"/volunteers/{id_path('volunteer_id')}/archive")
@login_required
@api_spec.validate(query=ArchiveQuery, resp=answers(200, ArchiveView, 401, 403, 404, 422), tags=["archive"],
                   security=BEARER_SECURITY)
def volunteer_archive(volunteer_id: int, query: ArchiveQuery):
    """A volunteer's archive, for organisers and admins over the volunteer's region (name masked); an
    organisation that recorded the volunteer's hours reads its own part after the volunteer moved away."""
    volunteer, organizations = archive.readable_by(current_account(), volunteer_id)
    found = archive.archive(volunteer, period=archive.Period(query.from_, query.to), organizations=organizations)
    return _archive_view(found, is_owner=False)


class EntryBody(StrictBody):
    kind: ArchiveEntryKind = Field(description="award 表彰 / complaint 投诉")
    title: str = Field(min_length=2, max_length=100, description="表彰名称，或投诉事由")
    detail: MultiLine = Field(default="", max_length=2000, description="详情")
    issuer: str | None = Field(default=None, min_length=2, max_length=100, description="表彰的授予单位，或投诉的来源")
    occurred_on: date = Field(ge=EARLIEST_DAY, description="表彰或投诉的日期，不晚于今天")
    organization_id: Id | None = Field(default=None, description="以哪个组织的名义记录（组织者必填；地区管理员可不填）")
    reason: str = Field(min_length=2, max_length=200, description="记录依据，如表彰文件文号、投诉受理编号")
    nonce: Nonce


class RetractionBody(StrictBody):
    reason: str = Field(min_length=2, max_length=200, description="撤销原因")
    organization_id: Id | None = Field(default=None, description="以哪个组织的名义撤销（组织者必填）")
    nonce: Nonce


def _entry_view(entry) -> EntryView:
    names = archive.names_of({entry.created_by_account_id})
    organization = archive.organization_names({entry.organization_id}).get(entry.organization_id)
    return EntryView.model_validate(archive.entry_view(entry, organization, names))


@blueprint.post(f"/volunteers/{id_path('volunteer_id')}/archive/entries")
@login_required
@api_spec.validate(json=EntryBody, resp=answers(201, EntryView, 401, 403, 404, 409, json_body=True),
                   tags=["archive"], security=BEARER_SECURITY)
def add_entry(volunteer_id: int, json: EntryBody):
    """Append an award (表彰) or a complaint received (投诉) to a volunteer's archive; never changed afterwards."""
    return idempotent("archive.add_entry", json, lambda: (_entry_view(archive.add_entry(
        current_account(), volunteer_id, kind=json.kind, title=json.title, detail=json.detail, issuer=json.issuer,
        occurred_on=json.occurred_on, organization_id=json.organization_id, reason=json.reason,
        now=current_time())), 201), volunteer_id=volunteer_id)


@blueprint.post(f"/volunteers/{id_path('volunteer_id')}/archive/entries/{id_path('entry_id')}/retraction")
@login_required
@api_spec.validate(json=RetractionBody, resp=answers(201, EntryView, 401, 403, 404, 409, json_body=True),
                   tags=["archive"], security=BEARER_SECURITY)
def retract_entry(volunteer_id: int, entry_id: int, json: RetractionBody):
    """Take an award or complaint back: a new entry naming it, with who and why (once per entry)."""
    return idempotent("archive.retract_entry", json, lambda: (_entry_view(archive.retract_entry(
        current_account(), volunteer_id, entry_id, reason=json.reason, organization_id=json.organization_id,
        now=current_time())), 201), volunteer_id=volunteer_id, entry_id=entry_id)


# --- attendee evaluations -------------------------------------------------------------------------------

class RatingItem(StrictBody):
    volunteer_id: Id
    rating: Evaluation = Field(description="excellent 优秀 / qualified 合格 / unqualified 不合格")
    note: str = Field(default="", max_length=200, description="评语")


class EvaluationsBody(StrictBody):
    items: list[RatingItem] = Field(min_length=1, max_length=500, description="要评价的参加者（未列出的不变）")
    nonce: Nonce


class AttendeeLine(BaseModel):
    volunteer_id: int
    name: str = Field(description="脱敏姓名")
    volunteer_number: str | None
    rating: str | None
    note: str | None
    revision: int = Field(description="评价修订次数；0 为尚未评价")
    evaluated_at: datetime | None


class EvaluationsView(BaseModel):
    activity_id: int
    changed: int = Field(description="本次新增的评价修订数（与当前评价相同的不重复记录）")
    attendees: list[AttendeeLine]


@blueprint.put(f"/activities/{id_path('activity_id')}/evaluations")
@login_required
@api_spec.validate(json=EvaluationsBody, resp=answers(200, EvaluationsView, 401, 403, 404, 409, json_body=True),
                   tags=["archive"], security=BEARER_SECURITY)
def put_evaluations(activity_id: int, json: EvaluationsBody):
    """Captains and organisers rate attendees of a held activity; a change is a new revision (history kept)."""
    ratings = [attendee_evaluations.Rating(i.volunteer_id, i.rating, i.note) for i in json.items]

    def write():
        activity, lines, changed = attendee_evaluations.evaluate(current_account(), activity_id, ratings,
                                                                 now=current_time())
        return EvaluationsView(activity_id=activity.id, changed=changed,
                               attendees=[AttendeeLine.model_validate(line) for line in lines]), 200
    return idempotent("attendee_evaluations.put", json, write, activity_id=activity_id)


@blueprint.get(f"/activities/{id_path('activity_id')}/evaluations")
@login_required
@api_spec.validate(resp=answers(200, EvaluationsView, 401, 403, 404), tags=["archive"], security=BEARER_SECURITY)
def get_evaluations(activity_id: int):
    """Every attendee of the activity and their current evaluation, for its captains and organisers."""
    activity, lines = attendee_evaluations.listing(current_account(), activity_id)
    return EvaluationsView(activity_id=activity.id, changed=0,
                           attendees=[AttendeeLine.model_validate(line) for line in lines])


# --- activity reports -----------------------------------------------------------------------------------

class ReportBody(StrictBody):
    summary: MultiLine = Field(min_length=2, max_length=5000, description="活动内容总结")
    photos: list[str] = Field(default_factory=list, max_length=activity_reports.MAX_PHOTOS,
                              description="活动照片的上传凭证（POST /api/v1/uploads，purpose=activity_photo），"
                                          "最多 20 张；保留已有照片时传其 token")
    nonce: Nonce


class PhotoView(BaseModel):
    token: str
    content_type: str
    size_bytes: int
    width: int | None
    height: int | None
    url: str = Field(description="签名链接，短时有效")
    thumbnail_url: str | None


class ReportView(BaseModel):
    activity_id: int
    revision: int = Field(description="第几次修订")
    summary: str
    photos: list[PhotoView]
    written_by: str | None = Field(description="填写人（脱敏）")
    written_at: datetime


def _report_view(report, photos) -> ReportView:
    return ReportView(activity_id=report.activity_id, revision=report.revision, summary=report.summary,
                      photos=[PhotoView(**uploads.links(photo)) for photo in photos],
                      written_by=archive.names_of({report.created_by_account_id}).get(report.created_by_account_id),
                      written_at=report.created_at)


@blueprint.put(f"/activities/{id_path('activity_id')}/report")
@login_required
@api_spec.validate(json=ReportBody, resp=answers(200, ReportView, 401, 403, 404, 409, json_body=True),
                   tags=["archive"], security=BEARER_SECURITY)
def put_report(activity_id: int, json: ReportBody):
    """A held activity's summary and up to 20 photos, by its captains and organisers; a change is a new revision."""
    def write():
        report, photos, _ = activity_reports.write(current_account(), activity_id, summary=json.summary,
                                                   photo_tokens=json.photos, now=current_time())
        return _report_view(report, photos), 200
    return idempotent("activity_reports.put", json, write, activity_id=activity_id)


@blueprint.get(f"/activities/{id_path('activity_id')}/report")
@login_required
@api_spec.validate(resp=answers(200, ReportView, 401, 403, 404), tags=["archive"], security=BEARER_SECURITY)
def get_report(activity_id: int):
    """The current summary and photos (signed, expiring links) of an activity, for its managers and the admins above."""
    _, report, photos, _ = activity_reports.read(current_account(), activity_id)
    return _report_view(report, photos)
