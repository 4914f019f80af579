"""Demo data for `make run`: a district worth opening the console on.

A district (渝中区) with three streets and their communities (populations of this year, in
`region_populations` as an admin would set them), a second district with one street; four
organisations (three approved, one application waiting, filed through the service by the approved
volunteer `sim_applicant` with a valid 统一社会信用代码), teams of
several kinds with captains, about 200 volunteers (a few waiting for review) with deterministic names
and mobiles and no resident ID numbers, twelve weeks of past activities whose sign-ups, check-ins and
service records went through the services (so ledgers and totals agree), coming activities, a
region-wide festival campaign with linked activities, an announcement that was delivered, one of each
records queue to decide (a declaration, a certificate request, an incoming transfer, a 补录), and one
activity open for check-in now (made again on each start when the last one is over). Every run
also stores this year's populations that are missing (a new year, or data seeded before they were
kept per year) and completes an application seeded without its applicant.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update

from app.db import unit_of_work
from app.extensions import db, settings
from app.services import (activities, broadcasts, calendar, campaigns, checkins, organizations, region_management, regions,
                          roles, service_records, signups, transfers, uploads, volunteer_numbers)
from app.services.certificates import flow as certificates_flow
from app.services.recording import declarations, retroactive
from app.timeutil import now_utc, to_local
from models import (Account, Activity, ActivityStatus, Campaign, Evaluation, MembershipStatus, Notification,
                    NotificationChannel, NotificationStatus, Organization, OrganizationStatus, Region, RegionLevel,
                    OrganizationKind, RegionPopulation, RegistrationChannel, Role, RoleGrant, Signup, SignupMode, SignupStatus,
                    SubscriptionCredit, Team, TeamKind, TeamMembership, TransferKind, UploadPurpose, Volunteer,
                    VolunteerStatus)

# (code, name, population, children); the first child at each level stays the first (the README walks it).
REGION_TREE = (
    ("500000", "重庆市", 32_000_000, (
        ("500103", "渝中区", 589_000, (
            ("500103001", "解放碑街道", 72_000, (
                ("500103001001", "解放碑社区", 8_200, ()),
                ("500103001002", "较场口社区", 9_600, ()),
                ("500103001003", "民生路社区", 7_800, ()),
            )),
            ("500103002", "七星岗街道", 61_000, (
                ("500103002001", "领事巷社区", 7_400, ()),
                ("500103002002", "金汤街社区", 6_900, ()),
            )),
            ("500103003", "上清寺街道", 58_000, (
                ("500103003001", "上清寺社区", 8_100, ()),
                ("500103003002", "学田湾社区", 7_300, ()),
            )),
        )),
        ("500106", "沙坪坝区", 1_480_000, (
            ("500106001", "磁器口街道", 45_000, (
                ("500106001001", "磁器口社区", 6_100, ()),
            )),
        )),
    )),
)
LEVELS = (RegionLevel.CITY, RegionLevel.DISTRICT, RegionLevel.STREET, RegionLevel.COMMUNITY)
DISTRICT_CODE = "500103"

# Demo accounts log in from the mini-program with code X, which the simulator maps to openid sim_X.
DEMO_ORGANIZER = "sim_organizer"
DEMO_ADMIN = "sim_admin"
DEMO_CAPTAIN = "sim_captain"
DEMO_VOLUNTEER = "sim_demo_zhao"
DEMO_APPLICANT = "sim_applicant"  # an approved volunteer whose organisation waits for the admin
MEDICAL_TEAM = "医疗卫生志愿服务队"
DEMO_ACTIVITY_TITLE = "社区义诊"

# (name, region code, status, organiser (or applicant) openid, teams: (name, kind, captain openid or None))
ORGANIZATIONS = (
    ("渝中区志愿者协会", DISTRICT_CODE, OrganizationStatus.APPROVED, DEMO_ORGANIZER, (
        (MEDICAL_TEAM, TeamKind.MEDICAL, DEMO_CAPTAIN),
        ("法律援助志愿服务队", TeamKind.LEGAL, "sim_demo_v001"),
        ("消防安全志愿服务队", TeamKind.FIRE, "sim_demo_v002"),
        ("文明交通志愿服务队", TeamKind.TRAFFIC, None),
    )),
    ("磁器口街道志愿服务站", "500106001", OrganizationStatus.APPROVED, "sim_organizer_cqk", (
        ("社区综合志愿服务队", TeamKind.GENERAL, "sim_demo_v003"),
    )),
    ("解放碑街道新时代文明实践所", "500103001", OrganizationStatus.APPROVED, "sim_organizer_jfb", (
        ("邻里守望志愿服务队", TeamKind.GENERAL, "sim_demo_v004"),
        ("青少年科普志愿服务队", TeamKind.SCIENCE, "sim_demo_v005"),
        ("绿色家园环保志愿服务队", TeamKind.ENVIRONMENT, None),
    )),
    ("上清寺社区书香志愿者协会", "500103003", OrganizationStatus.PENDING, DEMO_APPLICANT, ()),
)
# The waiting application's details: 51 = 民政 / 社会团体, 500103 = 渝中区, its check character by GB 32100.
APPLICATION = dict(credit_code="51500103MJP1234562", kind=OrganizationKind.SOCIAL, contact_name="孙书香",
                   contact_mobile="13800000004", address="渝中区上清寺路 12 号",
                   description="在上清寺社区开展读书会、老人读报和儿童绘本共读的志愿服务。")
APPLICANT = ("孙书香", "13800000004", "上清寺社区")  # the applicant's archive: name, mobile, community

VOLUNTEERS = 200
PENDING_VOLUNTEERS = 12
HISTORY_WEEKS = 12
SEED = 20261204  # the names, mobiles and history are the same on every machine
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢"
GIVEN = ("伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 桂英 建华 文 华 红 玉兰 飞 鹏 婷 "
         "雪 琳 浩然 子涵 欣怡 宇轩 梓萱 思远 佳怡 志强 海燕 国庆 春梅 晓东 丹 颖 倩 斌 宁 凯 辉 莉 波 瑜 昊 悦").split()
MOBILE_PREFIXES = ("135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "177", "186", "187", "188",
                   "189", "199")
SKILLS = ("急救", "法律", "心理疏导", "摄影", "驾驶", "外语", "手语", "电工", "教学", "文艺")
CATEGORIES = ("community", "party_member", "youth", "women", "worker", "student", "retiree", "professional")
# By team kind: (title, themes, place in the community) of its past and coming activities.
ACTIVITY_PLANS = {
    TeamKind.MEDICAL: ("健康义诊", ["健康服务", "空巢老人"], "卫生服务站"),
    TeamKind.LEGAL: ("义务法律咨询", ["法律服务"], "党群服务中心"),
    TeamKind.FIRE: ("消防安全进楼栋", ["应急安全"], "居民楼院坝"),
    TeamKind.TRAFFIC: ("文明交通劝导", ["文明交通"], "轻轨站出口"),
    TeamKind.GENERAL: ("敬老院陪伴服务", ["空巢老人"], "养老服务站"),
    TeamKind.SCIENCE: ("青少年科普课堂", ["关爱青少年"], "社区图书室"),
    TeamKind.ENVIRONMENT: ("垃圾分类宣传", ["环境保护"], "社区广场"),
}


def seed(*, now: datetime) -> str:
    """Insert the demo data unless it is there already, and keep an activity open for check-in; a summary."""
    with unit_of_work():
        if db.session.scalar(select(Region.id).where(Region.code == "500000")):
            loaded = "demo data already present"
            _populations(now)
            _complete_application(now)
        else:
            counts = _seed_once(now)
            loaded = (f"demo data loaded: {counts}; log in with code 'organizer' (organiser of 渝中区志愿者协会), "
                      "'admin' (admin of 渝中区), 'captain' (captain of the medical team), 'demo_zhao' "
                      "(a signed-up volunteer) or 'applicant' (a volunteer whose organisation awaits review)")
        activity = _open_activity(now)
    return f"{loaded}; activity {activity.id} 「{DEMO_ACTIVITY_TITLE}」 is open for check-in with 赵敏 signed up"


def _seed_once(now: datetime) -> str:
    rng = random.Random(SEED)
    by_code: dict[str, Region] = {}
    _add_tree(REGION_TREE, None, 0, by_code)
    district = by_code[DISTRICT_CODE]
    roles.grant(_account(DEMO_ADMIN, now).id, Role.ADMIN, region_id=district.id, now=now)
    communities = [region for region in by_code.values() if region.level is RegionLevel.COMMUNITY]
    people = _volunteers(rng, communities, now)
    teams: list[Team] = []
    captains: dict[int, str] = {}
    _populations(now)
    for name, code, status, organizer_openid, team_specs in ORGANIZATIONS:
        if status is not OrganizationStatus.APPROVED:  # an application waiting for the district admin
            organizations.apply(_applicant(now), organizations.Application(
                name=name, region_id=by_code[code].id, **APPLICATION), now=now - timedelta(days=2))
            continue
        organization = Organization(name=name, region_id=by_code[code].id, status=status,
                                    approved_at=now - timedelta(days=120), created_at=now - timedelta(days=130))
        db.session.add(organization)
        db.session.flush()
        roles.grant(_account(organizer_openid, now).id, Role.ORGANIZER, organization_id=organization.id, now=now)
        for team_name, kind, captain in team_specs:
            team = Team(organization_id=organization.id, name=team_name, kind=kind,
                        created_at=now - timedelta(days=110))
            db.session.add(team)
            db.session.flush()
            teams.append(team)
            if captain is not None:
                roles.grant(_account(captain, now).id, Role.CAPTAIN, team_id=team.id, now=now)
                captains[team.id] = captain
    members = _memberships(rng, teams, people, captains, now)
    past = _history(rng, teams, members, now)
    _coming(rng, teams, members, now)
    campaign = _campaign(district, rng, teams, now)
    _announcement(teams[0], members[teams[0].id], now)
    # Approved above without a review: they get their volunteer numbers as a review would have given them.
    volunteer_numbers.backfill()
    queues = _records_to_review(teams, members, now)
    return (f"{len(by_code)} regions, {len(ORGANIZATIONS)} organisations (1 applying), {len(teams)} teams, "
            f"{VOLUNTEERS + 4} volunteers ({PENDING_VOLUNTEERS + 2} pending), {past} past activities, "
            f"campaign 「{campaign.name}」, {queues}")


def _records_to_review(teams: list[Team], members: dict[int, list[Volunteer]], now: datetime) -> str:
    """One of each queue of the records half, made through the services, so those pages open on work to do:
    a declaration for the medical team's captain, a certificate request and an incoming transfer for the
    district association, a 补录 of 解放碑's station for the district's admin."""
    medical = teams[0]
    no_show = db.session.execute(
        select(Activity, Signup).join(Signup, Signup.activity_id == Activity.id)
        .where(Activity.team_id == medical.id, Activity.ends_at < now, Signup.status == SignupStatus.APPROVED,
               Signup.service_minutes == 0)
        .order_by(Activity.starts_at.desc(), Signup.id).limit(1)).first()
    if no_show is not None:
        activity, signup = no_show
        declarations.declare(db.session.get(Volunteer, signup.volunteer_id).account, activity.id,
                             started_at=activity.starts_at, ended_at=activity.ends_at, photos=[], now=now,
                             note="当天在现场帮忙测血压，忘了扫码签到，队长可以作证")
    association = medical.organization_id
    busiest = db.session.scalar(select(Volunteer).where(Volunteer.id.in_([v.id for v in members[medical.id]]))
                                .order_by(Volunteer.total_service_minutes.desc(), Volunteer.id).limit(1))
    today = to_local(now).date()
    certificates_flow.request(busiest.account, today - timedelta(days=90), today, note="单位评优需要", now=now)
    station = next(t for t in teams if t.organization_id != association and
                   db.session.get(Organization, t.organization_id).name.startswith("解放碑"))
    association_members = {v.id for t in teams if t.organization_id == association for v in members[t.id]}
    mover = next(v for v in members[station.id] if v.id not in association_members)
    transfers.apply(mover.account, kind=TransferKind.ORGANIZATION, organization_id=association, team_id=None,
                    from_organization_id=station.organization_id, region_id=None,
                    reason="搬到了渝中区，想就近参加协会的活动", now=now)
    organizer = _organizer_of(station.organization_id)
    evidence = uploads.receive(organizer.id, UploadPurpose.EVIDENCE,
                               uploads.check(_sign_in_sheet_photo(), UploadPurpose.EVIDENCE), now=now)
    held_on = today - timedelta(days=20)
    retroactive.enter(organizer, station.organization_id, retroactive.Held(
        title="社区应急疏散演练", place="解放碑社区居民楼", beneficiary="社区居民",
        content="协助社区开展高层住宅应急疏散演练，引导老人和儿童有序撤离",
        starts_at=_local(held_on, 19, now), ends_at=_local(held_on, 21, now)),
        [retroactive.Attendee(volunteer_id=v.id) for v in members[station.id][:3]], [evidence.token], now=now)
    return "a declaration, a certificate request, a transfer and a 补录 waiting to be decided"


def _sign_in_sheet_photo() -> bytes:
    """A plain picture standing in for the photo of a paper sign-in sheet."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 640), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    for row in range(12):
        draw.line((40, 80 + row * 44, 440, 80 + row * 44), fill=(90, 90, 90), width=2)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _volunteers(rng: random.Random, communities: list[Region], now: datetime) -> list[Volunteer]:
    """The README's three (李明 and 王芳 pending, 赵敏 approved) and VOLUNTEERS generated ones."""
    by_name = {region.name: region for region in communities}
    for openid, name, mobile, community in (("sim_demo_li", "李明", "13800000001", "解放碑社区"),
                                            ("sim_demo_wang", "王芳", "13800000002", "较场口社区")):
        db.session.add(Volunteer(account_id=_account(openid, now).id, real_name=name, mobile=mobile,
                                 birth_date=date(1990, 5, 1), categories=["community"], skills=["急救"],
                                 region_id=by_name[community].id, status=VolunteerStatus.PENDING,
                                 created_at=now, updated_at=now))
    db.session.add(Volunteer(account_id=_account(DEMO_VOLUNTEER, now).id, real_name="赵敏", mobile="13800000003",
                             birth_date=date(1992, 3, 8), categories=["professional"], skills=["急救"],
                             region_id=by_name["解放碑社区"].id, status=VolunteerStatus.APPROVED,
                             created_at=now, updated_at=now))
    people = []
    mobiles: set[str] = set()
    # Most live in 渝中区, the rest in 磁器口.
    weights = [1 if region.name == "磁器口社区" else 3 for region in communities]
    for index in range(1, VOLUNTEERS + 1):
        mobile = ""
        while not mobile or mobile in mobiles:
            mobile = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        mobiles.add(mobile)
        pending = index > VOLUNTEERS - PENDING_VOLUNTEERS
        joined = now - timedelta(days=rng.randint(1, 6) if pending else rng.randint(100, 700))
        volunteer = Volunteer(
            account_id=_account(f"sim_demo_v{index:03d}", joined).id,
            real_name=_name(rng),
            mobile=mobile, birth_date=date(rng.randint(1958, 2006), rng.randint(1, 12), rng.randint(1, 28)),
            categories=sorted(set(rng.sample(CATEGORIES, rng.randint(1, 2)))),
            skills=sorted(set(rng.sample(SKILLS, rng.randint(0, 2)))),
            region_id=rng.choices(communities, weights)[0].id,
            status=VolunteerStatus.PENDING if pending else VolunteerStatus.APPROVED,
            reviewed_at=None if pending else joined + timedelta(days=1), created_at=joined, updated_at=joined,
            # About 15 % entered by an organiser, so the self-registration KPI is not trivially 100 %
            # (chosen by index, not by rng, so the rest of the demo data stays as it was).
            registration_channel=(RegistrationChannel.ORGANIZER if index % 20 in (3, 9, 16)
                                  else RegistrationChannel.SELF))
        db.session.add(volunteer)
        people.append(volunteer)
    db.session.flush()
    return [person for person in people if person.status is VolunteerStatus.APPROVED]


def _name(rng: random.Random) -> str:
    """A surname and a given name of one or two characters."""
    given = rng.choice(GIVEN)
    if len(given) == 1 and rng.random() < 0.5:
        given += rng.choice([single for single in GIVEN if len(single) == 1 and single != given])
    return rng.choice(SURNAMES) + given


def _memberships(rng: random.Random, teams: list[Team], people: list[Volunteer], captains: dict[int, str],
                 now: datetime) -> dict[int, list[Volunteer]]:
    """Each approved volunteer is an active member of one or two teams of an organisation near them; a
    captain who is a volunteer is a member of their team."""
    regions_by_id = {region.id: region for region in db.session.scalars(select(Region))}
    organizations = {org.id: org for org in db.session.scalars(select(Organization))}
    members: dict[int, list[Volunteer]] = {team.id: [] for team in teams}
    for person in people:
        near = [team for team in teams
                if regions.is_within(regions_by_id[person.region_id],
                                     regions_by_id[organizations[team.organization_id].region_id].path)]
        for team in rng.sample(near, min(len(near), rng.randint(1, 2))) if near else ():
            members[team.id].append(person)
            db.session.add(TeamMembership(team_id=team.id, volunteer_id=person.id, status=MembershipStatus.ACTIVE,
                                          decided_at=person.created_at + timedelta(days=2),
                                          created_at=person.created_at + timedelta(days=1)))
    by_openid = {person.account.mp_openid: person for person in people}
    for team_id, openid in captains.items():
        captain = by_openid.get(openid)
        if captain is not None and captain not in members[team_id]:
            members[team_id].append(captain)
            db.session.add(TeamMembership(team_id=team_id, volunteer_id=captain.id, status=MembershipStatus.ACTIVE,
                                          decided_at=captain.created_at + timedelta(days=2),
                                          created_at=captain.created_at + timedelta(days=1)))
    db.session.flush()
    return members


def _organizer_of(organization_id: int) -> Account:
    return db.session.scalar(select(Account).join(RoleGrant, RoleGrant.account_id == Account.id).where(
        RoleGrant.role == Role.ORGANIZER, RoleGrant.organization_id == organization_id).order_by(Account.id).limit(1))


def _communities_of(organization_id: int) -> list[Region]:
    root = db.session.get(Region, db.session.get(Organization, organization_id).region_id)
    return list(db.session.scalars(select(Region).where(Region.level == RegionLevel.COMMUNITY,
                                                        Region.path.startswith(root.path)).order_by(Region.id)))


def _plan(rng: random.Random, team: Team, starts_at: datetime, hours: float, *, now: datetime,
          capacity: int = 20, **extra) -> Activity:
    """A published activity of the team, created and published at `now` through the service."""
    title, themes, place = ACTIVITY_PLANS[team.kind]
    community = rng.choice(_communities_of(team.organization_id))
    values = {"organization_id": team.organization_id, "team_id": team.id, "region_id": community.id,
              "title": title, "description": f"{team.name}在{community.name}开展{title}。", "themes": themes,
              "address": f"{community.name}{place}", "starts_at": starts_at,
              "ends_at": starts_at + timedelta(hours=hours), "capacity": capacity, "publish": True, **extra}
    return activities.create(_organizer_of(team.organization_id), values, now=now)


def _local(day: date, hour: int, now: datetime) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=to_local(now).tzinfo).astimezone(now.tzinfo)


def _history(rng: random.Random, teams: list[Team], members: dict[int, list[Volunteer]], now: datetime) -> int:
    """Two activities a week over the last HISTORY_WEEKS weeks: sign-ups, check-ins from the paper sheet,
    service records; confirmed and rated except last week's (left for the organisers to confirm)."""
    rules = checkins.Rules.from_settings(dict(settings()["checkin"]))
    today = to_local(now).date()
    held = 0
    for week in range(HISTORY_WEEKS, 0, -1):
        for slot in range(2):
            team = teams[(week * 2 + slot) % len(teams)]
            crew = members[team.id]
            if len(crew) < 4:
                continue
            starts_at = _local(today - timedelta(days=7 * week - slot), (9, 14)[slot], now)
            activity = _plan(rng, team, starts_at, rng.choice((2, 2.5, 3)), now=starts_at - timedelta(days=6))
            organizer = _organizer_of(team.organization_id)
            came = rng.sample(crew, min(len(crew), rng.randint(5, 10)))
            for person in came:
                signups.apply(person.account, activity.id, join_waitlist=False,
                              now=starts_at - timedelta(hours=rng.randint(2, 120)))
            for index, person in enumerate(came):
                if index == 0 and len(came) > 5:
                    continue  # signed up and did not come
                for step, at in (("in", starts_at + timedelta(minutes=rng.randint(-20, 10))),
                                 ("out", activity.ends_at + timedelta(minutes=rng.randint(-25, 15)))):
                    checkins.manual_entry(organizer.id, activity.id, volunteer_id=person.id, reason="按纸质签到表补录",
                                          nonce=f"demo-{activity.id}-{person.id}-{step}", rules=rules, now=at)
            if week > 1:
                after = activity.ends_at + timedelta(days=1)
                service_records.confirm_activity(organizer, activity.id, now=after)
                activities.evaluate(organizer, activity.id, rng.choice((Evaluation.EXCELLENT, Evaluation.QUALIFIED)),
                                    now=after)
            held += 1
    return held


def _coming(rng: random.Random, teams: list[Team], members: dict[int, list[Volunteer]],
            now: datetime) -> list[Activity]:
    """Activities of the next two weeks with sign-ups; one in approval mode with applications to decide."""
    today = to_local(now).date()
    coming = []
    for offset, team, mode in ((3, teams[1], SignupMode.OPEN), (5, teams[2], SignupMode.APPROVAL),
                               (9, teams[4], SignupMode.OPEN)):
        activity = _plan(rng, team, _local(today + timedelta(days=offset), 9, now), 3, now=now - timedelta(days=2),
                         signup_mode=mode)
        for person in rng.sample(members[team.id], min(len(members[team.id]), 4)):
            signups.apply(person.account, activity.id, join_waitlist=False,
                          now=now - timedelta(hours=rng.randint(1, 40)))
        coming.append(activity)
    return coming


def _campaign(district: Region, rng: random.Random, teams: list[Team], now: datetime) -> Campaign:
    """A district-wide campaign for the next festival day, with an activity of two organisations linked."""
    today = to_local(now).date()
    festival = next(day for year in (today.year, today.year + 1)
                    for day in calendar.festival_days(year, region_id=district.id) if day.day > today)
    admin = _account(DEMO_ADMIN, now)
    campaign = campaigns.create(admin.id, festival_key=festival.key, year=festival.day.year, organization_id=None,
                                region_id=district.id, theme=None, lead=None, now=now - timedelta(days=1))
    by_organization: dict[int, Team] = {}
    for team in teams:
        if regions.is_within(db.session.get(Organization, team.organization_id).region, district.path):
            by_organization.setdefault(team.organization_id, team)
    for team in list(by_organization.values())[:2]:
        activity = _plan(rng, team, _local(festival.day, 10, now), 3, now=now - timedelta(hours=20), capacity=30)
        campaigns.link_activity(_organizer_of(team.organization_id).id, campaign.id, activity.id,
                                now=now - timedelta(hours=20))
    return campaign


def _announcement(team: Team, crew: list[Volunteer], now: datetime) -> None:
    """An announcement to a team, fanned out through the service three days ago; the two thirds of the
    team who had subscribed got it (recorded as sent), the rest read it in their inbox."""
    sent_at = now - timedelta(days=3)
    template_id = settings()["wechat"]["templates"]["announcement"]
    for person in crew[: len(crew) * 2 // 3]:
        db.session.add(SubscriptionCredit(account_id=person.account_id, template_id=template_id, remaining=1,
                                          updated_at=sent_at))
    db.session.flush()
    organizer = _organizer_of(team.organization_id)
    draft = broadcasts.prepare(organizer.id, team.organization_id, title="周末健康义诊志愿者集合",
                               body="本周六上午八点半在解放碑社区卫生服务站集合，请穿志愿者马甲、带好工作证。",
                               audience=broadcasts.Audience("team", team.id), activity_id=None)
    # The demo's fixed text: WeChat's content check is not reachable while seeding (the simulator starts later).
    announcement, _ = broadcasts.create(organizer.id, broadcasts.Checked(draft), now=sent_at)
    while broadcasts.fan_out_next(now=sent_at, batch_size=500):
        pass
    db.session.execute(update(Notification).where(
        Notification.announcement_id == announcement.id, Notification.status == NotificationStatus.PENDING,
        Notification.channel == NotificationChannel.MINIPROGRAM_SUBSCRIBE)
        .values(status=NotificationStatus.SENT, attempts=1, sent_at=sent_at + timedelta(minutes=1)))


def _open_activity(now: datetime) -> Activity:
    """The medical team's demo activity open for check-in now; a new one starting in 30 minutes if none is.

    The demo is started at any time, days after it was first seeded: a captain must always find an
    activity to scan 赵敏 into, so each start makes sure one is open.
    """
    medical = db.session.scalar(select(Team).where(Team.name == MEDICAL_TEAM))
    opens_before = timedelta(minutes=settings()["checkin"]["opens_minutes_before_start"])
    # Still open for check-in for at least an hour, so the README's scans work when it is read.
    open_now = db.session.scalar(select(Activity).where(
        Activity.team_id == medical.id, Activity.title == DEMO_ACTIVITY_TITLE,
        Activity.status == ActivityStatus.PUBLISHED, Activity.starts_at <= now + opens_before,
        Activity.ends_at > now + timedelta(hours=1)).order_by(Activity.id.desc()).limit(1))
    if open_now is not None:
        return open_now
    zhao = db.session.scalar(select(Volunteer).join(Account, Account.id == Volunteer.account_id)
                             .where(Account.mp_openid == DEMO_VOLUNTEER))
    organizer = _account(DEMO_ORGANIZER, now)
    starts_at = now.replace(second=0, microsecond=0) + timedelta(minutes=30)
    activity = Activity(organization_id=medical.organization_id, team_id=medical.id, region_id=zhao.region_id,
                        title=DEMO_ACTIVITY_TITLE, description="为社区老人测血压、讲解用药常识", themes=["空巢老人"],
                        address="解放碑社区服务中心", starts_at=starts_at, ends_at=starts_at + timedelta(hours=3),
                        capacity=20, seats_taken=1, status=ActivityStatus.PUBLISHED, published_at=now,
                        created_by_account_id=organizer.id, created_at=now, updated_at=now)
    db.session.add(activity)
    db.session.flush()
    db.session.add(Signup(activity_id=activity.id, volunteer_id=zhao.id, status=SignupStatus.APPROVED,
                          created_at=now, updated_at=now))
    db.session.flush()
    return activity


def grant_by_openid(openid: str, role: str, scope_id: int) -> str:
    """Grant a role to the account with this mini-program openid (created if it never logged in)."""
    scope, model = {"captain": ("team_id", Team), "organizer": ("organization_id", Organization),
                    "admin": ("region_id", Region)}[role]
    with unit_of_work():
        if db.session.get(model, scope_id) is None:
            raise LookupError(f"no {model.__tablename__[:-1]} with id {scope_id}")
        now = now_utc()
        account = _account(openid, now)
        roles.grant(account.id, Role(role), now=now, **{scope: scope_id})
    return f"granted {role} on {scope}={scope_id} to {openid}"


def _populations(now: datetime) -> None:
    """This year's population of every demo region, where it is not stored yet (as `PUT /populations` would)."""
    year = to_local(now).year
    figures: dict[str, int] = {}

    def walk(nodes) -> None:
        for code, _name, population, children in nodes:
            figures[code] = population
            walk(children)

    walk(REGION_TREE)
    stored = set(db.session.scalars(select(Region.code).join(RegionPopulation, RegionPopulation.region_id == Region.id)
                                    .where(RegionPopulation.year == year, Region.code.in_(list(figures)))))
    for region in db.session.scalars(select(Region).where(Region.code.in_(sorted(set(figures) - stored))).order_by(Region.id)):
        region_management.record_population(region, year=year, population=figures[region.code], account_id=None,
                                            now=now)


def _applicant(now: datetime) -> Account:
    """The applicant's account with an approved archive (so it may log in to the console and see its application)."""
    account = _account(DEMO_APPLICANT, now)
    if db.session.scalar(select(Volunteer.id).where(Volunteer.account_id == account.id)) is None:
        name, mobile, community = APPLICANT
        db.session.add(Volunteer(account_id=account.id, real_name=name, mobile=mobile, birth_date=date(1985, 9, 20),
                                 categories=["community"], skills=["教学"],
                                 region_id=db.session.scalar(select(Region.id).where(Region.name == community)),
                                 status=VolunteerStatus.APPROVED, reviewed_at=now - timedelta(days=30),
                                 created_at=now - timedelta(days=31), updated_at=now - timedelta(days=30)))
        db.session.flush()
    return account


def _complete_application(now: datetime) -> None:
    """Give an application seeded before it had them its applicant and details."""
    name = next(spec[0] for spec in ORGANIZATIONS if spec[2] is not OrganizationStatus.APPROVED)
    waiting = db.session.scalar(select(Organization).where(Organization.name == name,
                                                           Organization.status == OrganizationStatus.PENDING,
                                                           Organization.applicant_account_id.is_(None)))
    if waiting is None or db.session.scalar(select(Organization.id).where(
            Organization.credit_code == APPLICATION["credit_code"])):
        return
    waiting.applicant_account_id = _applicant(now).id
    for field, value in APPLICATION.items():
        setattr(waiting, field, value)
    db.session.flush()


def _add_tree(nodes, parent: Region | None, depth: int, by_code: dict[str, Region]) -> None:
    for code, name, population, children in nodes:
        region = regions.add_region(code, name, LEVELS[depth], parent, population)
        by_code[code] = region
        _add_tree(children, region, depth + 1, by_code)


def _account(openid: str, now) -> Account:
    account = db.session.scalar(select(Account).where(Account.mp_openid == openid))
    if account is None:
        account = Account(mp_openid=openid, created_at=now, last_login_at=now)
        db.session.add(account)
        db.session.flush()
    return account
