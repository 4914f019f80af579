"""Command-line entry points: flask web, flask db …, flask seed demo, flask wechat-sim, flask jobs …, flask roles …, flask accounts …,
flask console …, flask volunteers …"""

from __future__ import annotations

import click
import requests
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.extensions import settings


def register_cli(app: Flask) -> None:
    """Attach the project's command groups to `flask`."""
    app.cli.add_command(web_cli)
    app.cli.add_command(seed_cli)
    app.cli.add_command(wechat_sim_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(roles_cli)
    app.cli.add_command(accounts_cli)
    app.cli.add_command(console_cli)
    app.cli.add_command(volunteers_cli)


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Worker processes (default: one per CPU).")
@click.option("--threads", default=None, type=click.IntRange(min=1),
              help="Threads running the app in each worker (default 2).")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log every request but the health checks.")
def web_cli(host: str, port: int, workers: int | None, threads: int | None, access_log: bool) -> None:
    """Serve the API, the WeChat callbacks and the console (granian; see docs/ARCHITECTURE.md)."""
    from app import web_server

    threads = threads or web_server.THREADS_PER_WORKER
    click.echo(f"Web service on http://{host}:{port} (granian; worker processes: {workers or 'one per CPU'}, "
               f"threads per worker: {threads})")
    web_server.serve(host, port, workers=workers, threads=threads, access_log=access_log)


seed_cli = AppGroup("seed", help="Load data.")


@seed_cli.command("demo")
def seed_demo() -> None:
    """Load the demo regions, organisations, teams and accounts (safe to run twice)."""
    from app.services import demo
    from app.timeutil import current_time

    summary = demo.seed(now=current_time())
    click.echo(summary)


@click.group("wechat-sim", cls=AppGroup, invoke_without_command=True, help="The local WeChat simulator.")
@click.option("--host", default=None, help="Address to listen on (default: simulator.host).")
@click.option("--port", default=None, type=int, help="Port (default: simulator.port).")
@click.option("--rate-limit", default=None, type=float, help="Sends per second before errcode 45009 (0: none).")
@click.option("--access-log/--no-access-log", default=True, help="Log every request (the demo leaves them out: "
              "what was sent is at /_sim/messages).")
@click.option("--server", type=click.Choice(["auto", "granian", "werkzeug"]), default="auto", show_default=True,
              help="HTTP server: granian (one process, 16 threads, keep-alive; far less CPU per request) or "
              "werkzeug's threaded development server; auto: granian if it is installed.")
@click.pass_context
@with_appcontext
def wechat_sim_cli(ctx: click.Context, host: str | None, port: int | None, rate_limit: float | None,
                   access_log: bool, server: str) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from app.wechat.simulator import serve

    sim = settings()["simulator"]
    host, port = host or sim["host"], port or sim["port"]
    if server == "auto":
        server = "granian" if serve.granian_available() else "werkzeug"
    click.echo(f"WeChat simulator on http://{host}:{port} (recorded messages: http://{host}:{port}/_sim/messages; "
               f"{server})")
    serve.serve(host, port, rate_limit=sim["rate_limit_per_second"] if rate_limit is None else rate_limit,
                server=server, access_log=access_log)


@wechat_sim_cli.command("push")
@click.argument("kind", type=click.Choice(["text", "subscribe", "scan", "unsubscribe", "popup", "sent"]))
@click.option("--app", "account", type=click.Choice(["official", "miniprogram"]), default="official")
@click.option("--openid", default="sim_demo", help="FromUserName of the push.")
@click.option("--content", default=None, help="Text of a text message.")
@click.option("--event-key", default=None, help="EventKey (QR scene, template id for popup/sent).")
@click.option("--safe", is_flag=True, help="Encrypt as in safe mode (encrypt_type=aes).")
@click.option("--json", "as_json", is_flag=True, help="JSON push format instead of XML.")
@click.option("--service-url", default=None, help="Base URL of the service (default: simulator.service_url).")
def wechat_sim_push(kind: str, account: str, openid: str, content: str | None, event_key: str | None, safe: bool,
                    as_json: bool, service_url: str | None) -> None:
    """Push a signed callback to the service, as WeChat would, and print the answer."""
    from app.config import thaw
    from app.wechat.simulator import push_from_cli

    conf = settings()
    target = service_url or conf["simulator"]["service_url"]
    try:
        result = push_from_cli(thaw(conf["wechat"]), target, kind,
                               account=account, openid=openid, content=content, event_key=event_key, safe=safe,
                               fmt="json" if as_json else "xml")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    except requests.ConnectionError:
        raise click.ClickException(f"cannot reach the service at {target}; is `make run` running?") from None
    if result.status_code is None:
        raise click.ClickException(f"no answer from {target} within WeChat's timeout on any of its attempts")
    click.echo(f"HTTP {result.status_code}")
    click.echo(result.reply_text)


jobs_cli = AppGroup("jobs", help="Background processes.")


@jobs_cli.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--interval", default=1.0, type=float, help="Seconds to wait when nothing is due.")
def jobs_worker(once: bool, interval: float) -> None:
    """Send notifications from the outbox."""
    from jobs import delivery

    delivery.run_worker(current_app._get_current_object(), once=once, interval=interval)


@jobs_cli.command("scheduler")
@click.option("--table", "table_module", default="jobs.schedule", show_default=True,
              help="Module whose JOBS table to fire (tests name one with fast jobs).")
def jobs_scheduler(table_module: str) -> None:
    """Fire the periodic jobs of jobs/schedule.py; one instance leads cluster-wide, others stand by."""
    from jobs import scheduler

    scheduler.run_forever(current_app._get_current_object(), table_module)


@jobs_cli.command("tasks")
@click.option("--workers", default=None, type=int, help="Worker threads (default: tasks.workers).")
@click.option("--import", "extra_modules", multiple=True, help="Also import this module's tasks (tests name one).")
def jobs_tasks(workers: int | None, extra_modules: tuple[str, ...]) -> None:
    """Run the background-task consumer (Huey): exports, PDFs, bulletins; Ctrl-C stops it after the running tasks."""
    from app import tasks

    names = tasks.discover(extra_modules)
    count = workers or settings()["tasks"]["workers"]
    click.echo(f"task consumer on {tasks.backend_of(settings())} with {count} workers; tasks: {', '.join(names)}")
    tasks.make_consumer(workers=count).run()


@jobs_cli.command("pdf-font")
def jobs_pdf_font() -> None:
    """Build the bulletin PDF's cut-down Chinese font now (else the first PDF waits about a minute for it)."""
    from pathlib import Path

    from app.services.bulletins import fonts

    click.echo(f"PDF font ready: {fonts.subset_font(Path(current_app.instance_path) / 'fonts')}")


@jobs_cli.command("close-checkouts")
def jobs_close_checkouts() -> None:
    """Close check-ins still open at an activity's end + grace (the scheduler does it every minute)."""
    from app.timeutil import now_utc
    from jobs import attendance

    click.echo(f"closed {attendance.close_forgotten_checkouts(now=now_utc())} forgotten check-outs")


@jobs_cli.command("campaign-drafts")
def jobs_campaign_drafts() -> None:
    """Make the draft campaigns of festival days in the next campaigns.draft_days_ahead days."""
    from app.timeutil import current_time
    from jobs import campaigns

    click.echo(f"made {campaigns.make_drafts(now=current_time())} draft campaigns")


roles_cli = AppGroup("roles", help="Grant roles to accounts.")


@roles_cli.command("grant")
@click.argument("openid")
@click.argument("role", type=click.Choice(["captain", "organizer", "admin"]))
@click.argument("scope_id", type=int)
def roles_grant(openid: str, role: str, scope_id: int) -> None:
    """Grant ROLE to the account with mini-program OPENID on a team, organisation or region id."""
    from app.services import demo

    try:
        click.echo(demo.grant_by_openid(openid, role, scope_id))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None


accounts_cli = AppGroup("accounts", help="Disable or enable accounts.")


@accounts_cli.command("disable")
@click.argument("account_id", type=int)
@click.option("--reason", required=True, help="why (kept in the audit log; no personal data)")
def accounts_disable(account_id: int, reason: str) -> None:
    """Disable ACCOUNT_ID: its tokens answer 401 at once and login is refused."""
    _set_account_enabled(account_id, enabled=False, reason=reason)


@accounts_cli.command("enable")
@click.argument("account_id", type=int)
def accounts_enable(account_id: int) -> None:
    """Enable ACCOUNT_ID again; its tokens from before stay revoked (it logs in anew)."""
    _set_account_enabled(account_id, enabled=True, reason=None)


def _set_account_enabled(account_id: int, *, enabled: bool, reason: str | None) -> None:
    from app.db import unit_of_work
    from app.errors import DomainError
    from app.services import accounts
    from app.timeutil import current_time

    try:
        with unit_of_work():
            if enabled:
                accounts.enable(account_id, actor_account_id=None, now=current_time())
            else:
                accounts.disable(account_id, actor_account_id=None, reason=reason or "", now=current_time())
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"account {account_id} {'enabled' if enabled else 'disabled'}")


console_cli = AppGroup("console", help="The web console.")


@console_cli.command("login-link")
@click.option("--openid", required=True, help="mini-program openid of an organiser, captain or admin")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True, help="where the console is served")
def console_login_link(openid: str, base_url: str) -> None:
    """Print a one-time URL that logs a browser in to the console as this account (valid 10 minutes by default)."""
    from app.db import unit_of_work
    from app.errors import DomainError
    from app.services import console_sessions
    from app.timeutil import current_time

    lifetimes = console_sessions.Lifetimes.from_settings(settings()["console"])
    try:
        with unit_of_work():
            token = console_sessions.create_login_link(openid, lifetimes=lifetimes, now=current_time())
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} ({exc.code}: {openid})") from None
    click.echo(f"{base_url.rstrip('/')}/console/login?link={token}")


volunteers_cli = AppGroup("volunteers", help="Volunteer archives.")


@volunteers_cli.command("number-backfill")
@click.option("--batch", default=1000, show_default=True, help="volunteers numbered per transaction")
def volunteers_number_backfill(batch: int) -> None:
    """Give a volunteer number to every approved (or suspended) volunteer who has none; safe to run again."""
    from app.db import unit_of_work
    from app.services import volunteer_numbers

    total = 0
    while True:
        # One transaction per batch: a sequence row is held only that long while approvals go on.
        with unit_of_work():
            done = volunteer_numbers.backfill(limit=batch)
        total += done
        if done < batch:
            break
    click.echo(f"numbered {total} volunteers")
