"""Certificates of volunteer service: the volunteer's requests, the issuer's review, objections, issue, revocation, PDF.

The PDF is rendered in the background after issue: `GET …/pdf` answers 409 `pdf_not_ready` until it
is there, then 303 See Other to a signed link that expires (`[certificates] pdf_link_seconds`), with
the same link in the JSON body for clients that do not follow redirects.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from app.extensions import api_spec
from app.services.certificates import flow, tasks as certificate_tasks, views
from app.timeutil import current_time
from handlers._auth import BEARER_SECURITY, current_account, current_account_id, login_required
from handlers._idempotency import Nonce, idempotent
from handlers._schemas import MultiLine, QueryArgs, StrictBody, answers, id_path
from models import CertificateStatus

blueprint = Blueprint("certificates", __name__, url_prefix="/api/v1")

Status = Literal["requested", "publicity", "issued", "rejected", "revoked"]


class CertificateView(BaseModel):
    id: int
    volunteer_id: int
    volunteer_name: str | None = Field(description="申请人（脱敏姓名）")
    volunteer_number: str | None = Field(description="申请人的志愿者编号")
    organization_id: int
    organization_name: str | None = Field(description="出具组织（记录这些时长的组织）")
    period_start: date
    period_end: date
    status: Status = Field(description="requested 待审核 / publicity 公示中 / issued 已出具 / rejected 未通过 / revoked 已撤销")
    status_label: str
    note: str | None
    serial: str | None = Field(description="证明编号（审核通过、进入公示时生成）")
    verification_url: str | None = Field(description="核验链接（二维码内容）：编号加验证码，持有人自行分享")
    requested_at: datetime
    reviewed_at: datetime | None
    rejection_reason: str | None
    publicity_ends_at: datetime | None = Field(description="公示截止时间（此后无未处理异议即出具）")
    open_objections: int
    issued_at: datetime | None
    revoked_at: datetime | None
    revocation_reason: str | None
    snapshot_sha256: str | None = Field(description="出具时冻结内容（规范 JSON）的 SHA-256")
    pdf_status: Literal["pending", "ready", "failed"]
    content: dict[str, Any] | None = Field(
        default=None, description="证明内容四部分：identity 身份信息（证件号已打码）、service 服务信息（时长、活动、培训、表彰）、"
                                  "issuer 出具组织信息、other 编号、出具日期、备注")


class CertificateList(BaseModel):
    items: list[CertificateView]


class RequestBody(StrictBody):
    period_start: date = Field(description="证明期间开始日期")
    period_end: date = Field(description="证明期间结束日期（不晚于今天）")
    note: str | None = Field(default=None, max_length=200, description="用途或备注（写入证明备注）")
    nonce: Nonce


class ReviewBody(StrictBody):
    decision: Literal["approve", "reject"]
    reason: str | None = Field(default=None, max_length=200, description="驳回原因（驳回时必填）")
    nonce: Nonce


class ObjectionBody(StrictBody):
    reason: MultiLine = Field(min_length=2, max_length=500, description="异议内容")
    nonce: Nonce


class ObjectionDecisionBody(StrictBody):
    decision: Literal["uphold", "dismiss"] = Field(description="uphold 异议成立（证明不予出具）/ dismiss 异议不成立（继续公示）")
    note: str = Field(min_length=2, max_length=200)
    nonce: Nonce


class ObjectionView(BaseModel):
    id: int
    certificate_id: int
    reason: str
    status: Literal["open", "upheld", "dismissed"]
    decision_note: str | None
    decided_at: datetime | None
    created_at: datetime


class ObjectionList(BaseModel):
    items: list[ObjectionView]


class NonceBody(StrictBody):
    nonce: Nonce


class RevokeBody(StrictBody):
    reason: str = Field(min_length=2, max_length=200)
    nonce: Nonce


class PdfLink(BaseModel):
    url: str = Field(description="签名下载链接（相对路径），过期后 410 link_expired")
    expires_in: int


class OrganizationQuery(QueryArgs):
    model_config = ConfigDict(extra="forbid")
    status: CertificateStatus | None = Field(default=None, description="按状态筛选；不填为全部")


class PolicyBody(StrictBody):
    publicity_days: int = Field(ge=1, le=60, description="公示天数（默认 7）")
    working_days: bool = Field(description="true 按工作日计算（法定节假日与调休上班日）；false 按自然日")
    nonce: Nonce


class PolicyView(BaseModel):
    region_id: int
    publicity_days: int
    working_days: bool
    updated_at: datetime


def _view(row) -> CertificateView:
    return CertificateView(**views.view(row))


def _objection(row) -> ObjectionView:
    return ObjectionView(id=row.id, certificate_id=row.certificate_id, reason=row.reason, status=row.status.value,
                         decision_note=row.decision_note, decided_at=row.decided_at, created_at=row.created_at)


@blueprint.post("/me/certificates")
@login_required
@api_spec.validate(json=RequestBody, resp=answers(201, CertificateList, 401, 403, 404, json_body=True),
                   tags=["certificates"], security=BEARER_SECURITY)
def request_certificates(json: RequestBody):
    """Request certificates for a period: one per organisation that recorded hours in it (reused while one is under way)."""
    def write():
        rows = flow.request(current_account(), json.period_start, json.period_end, note=json.note, now=current_time())
        return CertificateList(items=[_view(row) for row in rows]), 201

    return idempotent("certificates.request", json, write)


@blueprint.get("/me/certificates")
@login_required
@api_spec.validate(resp=answers(200, CertificateList, 401, 404), tags=["certificates"], security=BEARER_SECURITY)
def my_certificates():
    """The caller's certificates, newest first."""
    return CertificateList(items=[_view(row) for row in flow.mine(current_account())])


@blueprint.get(f"/organizations/{id_path('organization_id')}/certificates")
@login_required
@api_spec.validate(query=OrganizationQuery, resp=answers(200, CertificateList, 401, 403, 404),
                   tags=["certificates"], security=BEARER_SECURITY)
def organization_certificates(organization_id: int, query: OrganizationQuery):
    """The certificates an organisation issues (its organisers and admins over it): requests to review, publicity, issued."""
    rows = flow.of_organization(current_account_id(), organization_id, status=query.status)
    return CertificateList(items=[_view(row) for row in rows])


@blueprint.get(f"/certificates/{id_path('certificate_id')}")
@login_required
@api_spec.validate(resp=answers(200, CertificateView, 401, 404), tags=["certificates"], security=BEARER_SECURITY)
def get_certificate(certificate_id: int):
    """One certificate with its content (the holder and the issuer's overseers)."""
    return _view(flow.get_for(current_account_id(), certificate_id))


@blueprint.post(f"/certificates/{id_path('certificate_id')}/review")
@login_required
@api_spec.validate(json=ReviewBody, resp=answers(200, CertificateView, 401, 403, 404, 409, json_body=True),
                   tags=["certificates"], security=BEARER_SECURITY)
def review_certificate(certificate_id: int, json: ReviewBody):
    """Approve (content built, serial given, publicity starts) or reject a request (the issuer's handler)."""
    def write():
        row = flow.review(current_account_id(), certificate_id, approve=json.decision == "approve", reason=json.reason,
                          now=current_time())
        return _view(row), 200

    return idempotent("certificates.review", json, write, certificate_id=certificate_id)


@blueprint.get(f"/certificates/{id_path('certificate_id')}/objections")
@login_required
@api_spec.validate(resp=answers(200, ObjectionList, 401, 404), tags=["certificates"], security=BEARER_SECURITY)
def certificate_objections(certificate_id: int):
    """Objections raised during publicity, with their decisions."""
    row = flow.get_for(current_account_id(), certificate_id)
    return ObjectionList(items=[_objection(item) for item in flow.objections_of(row)])


@blueprint.post(f"/certificates/{id_path('certificate_id')}/objections")
@login_required
@api_spec.validate(json=ObjectionBody, resp=answers(201, ObjectionView, 401, 404, 409, json_body=True),
                   tags=["certificates"], security=BEARER_SECURITY)
def object_to_certificate(certificate_id: int, json: ObjectionBody):
    """Raise an objection to a certificate in publicity (anyone logged in); issue waits until it is decided."""
    def write():
        return _objection(flow.object_to(current_account_id(), certificate_id, reason=json.reason,
                                         now=current_time())), 201

    return idempotent("certificates.object", json, write, certificate_id=certificate_id)


@blueprint.post(f"/certificates/{id_path('certificate_id')}/objections/{id_path('objection_id')}/decision")
@login_required
@api_spec.validate(json=ObjectionDecisionBody, resp=answers(200, ObjectionView, 401, 403, 404, 409, json_body=True),
                   tags=["certificates"], security=BEARER_SECURITY)
def decide_objection(certificate_id: int, objection_id: int, json: ObjectionDecisionBody):
    """Uphold (the certificate is rejected) or dismiss (publicity goes on) an objection (the issuer's handler)."""
    def write():
        row = flow.decide_objection(current_account_id(), certificate_id, objection_id,
                                    upheld=json.decision == "uphold", note=json.note, now=current_time())
        return _objection(row), 200

    return idempotent("certificates.decide_objection", json, write, certificate_id=certificate_id,
                      objection_id=objection_id)


@blueprint.post(f"/certificates/{id_path('certificate_id')}/issue")
@login_required
@api_spec.validate(json=NonceBody, resp=answers(200, CertificateView, 401, 403, 404, 409, json_body=True),
                   tags=["certificates"], security=BEARER_SECURITY)
def issue_certificate(certificate_id: int, json: NonceBody):
    """Issue now (the job does it within minutes anyway): publicity over and no objection open, else 409."""
    issued: list[int] = []

    def write():
        row = flow.issue_by_handler(current_account_id(), certificate_id, now=current_time())
        issued.append(row.id)
        return _view(row), 200

    answer = idempotent("certificates.issue", json, write, certificate_id=certificate_id)
    for issued_id in issued:  # after the commit: the task must find the frozen row
        certificate_tasks.render_pdf(issued_id)
    return answer


@blueprint.post(f"/certificates/{id_path('certificate_id')}/revoke")
@login_required
@api_spec.validate(json=RevokeBody, resp=answers(200, CertificateView, 401, 403, 404, 409, json_body=True),
                   tags=["certificates"], security=BEARER_SECURITY)
def revoke_certificate(certificate_id: int, json: RevokeBody):
    """Revoke an issued certificate with a reason; its verification page answers 410 from then on."""
    def write():
        return _view(flow.revoke(current_account_id(), certificate_id, reason=json.reason, now=current_time())), 200

    return idempotent("certificates.revoke", json, write, certificate_id=certificate_id)


@blueprint.get(f"/certificates/{id_path('certificate_id')}/pdf")
@login_required
@api_spec.validate(resp=answers(303, PdfLink, 401, 404, 409), tags=["certificates"], security=BEARER_SECURITY)
def certificate_pdf(certificate_id: int):
    """303 to a signed, expiring link to the PDF (A4, fonts embedded, QR); 409 `pdf_not_ready` until it is rendered."""
    url, ttl = certificate_tasks.pdf_link(current_account_id(), certificate_id)
    return PdfLink(url=url, expires_in=ttl), 303, {"Location": url, "Cache-Control": "no-store"}


@blueprint.put(f"/regions/{id_path('region_id')}/certificate-policy")
@login_required
@api_spec.validate(json=PolicyBody, resp=answers(200, PolicyView, 401, 403, 404, json_body=True),
                   tags=["certificates"], security=BEARER_SECURITY)
def put_certificate_policy(region_id: int, json: PolicyBody):
    """Set the region's publicity rule (admins of the region or above); it applies to its organisations and those below."""
    def write():
        row = flow.set_policy(current_account_id(), region_id, publicity_days=json.publicity_days,
                              working_days=json.working_days, now=current_time())
        return PolicyView(region_id=row.region_id, publicity_days=row.publicity_days, working_days=row.working_days,
                          updated_at=row.updated_at), 200

    return idempotent("certificates.policy", json, write, region_id=region_id)
