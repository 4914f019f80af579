"""Load, merge and validate the service configuration; the result is read-only."""

from __future__ import annotations

import base64
import binascii
import copy
import os
import tomllib
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FILE = PROJECT_ROOT / "config.example.toml"
ENV_PREFIX = "APP_"
ENV_FILE_VARIABLE = "APP_CONFIG"


class ConfigError(Exception):
    """Raised when the configuration cannot be used; the message tells what to fix."""


def builtin_defaults() -> dict[str, Any]:
    """Return the built-in defaults, which are the values of config.example.toml."""
    with EXAMPLE_FILE.open("rb") as handle:
        return tomllib.load(handle)


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Mapping[str, Any]:
    """Read the file (or defaults), apply APP_* variables and overrides, validate, and freeze."""
    environ = os.environ if environ is None else environ
    schema = builtin_defaults()
    source, settings = _read_source(environ, schema)
    _check_same_keys(schema, settings, source)
    _apply_environment(settings, schema, environ)
    if overrides:
        _deep_merge(settings, overrides, schema, "create_app overrides")
    _validate_values(settings)
    return _freeze(settings)


def _read_source(environ: Mapping[str, str], schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    named = environ.get(ENV_FILE_VARIABLE)
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"{ENV_FILE_VARIABLE} names {named!r}, which is not a readable file")
    else:
        path = Path.cwd() / "config.toml"
        if not path.is_file():
            return "built-in defaults", copy.deepcopy(schema)
    try:
        with path.open("rb") as handle:
            return str(path), tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _check_same_keys(schema: Mapping[str, Any], given: Mapping[str, Any], source: str, prefix: str = "") -> None:
    unknown = sorted(prefix + key for key in given if key not in schema)
    missing = sorted(prefix + key for key in schema if key not in given)
    problems = []
    if unknown:
        problems.append("unknown keys: " + ", ".join(unknown))
    if missing:
        problems.append("missing keys: " + ", ".join(missing))
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems) + f" (every key is documented in {EXAMPLE_FILE.name})")
    for key, default in schema.items():
        if isinstance(default, dict):
            if not isinstance(given[key], dict):
                raise ConfigError(f"{source}: [{prefix}{key}] must be a table")
            _check_same_keys(default, given[key], source, f"{prefix}{key}.")
        else:
            given[key] = _coerce(given[key], default, f"{prefix}{key}", source)


def _coerce(value: Any, default: Any, dotted: str, source: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, list):
        if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            return list(value)
        raise ConfigError(f"{source}: {dotted} must be a list of strings, got {value!r}")
    elif isinstance(value, type(default)):
        return value
    raise ConfigError(f"{source}: {dotted} must be of type {type(default).__name__}, got {value!r}")


def _apply_environment(settings: dict[str, Any], schema: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_FILE_VARIABLE:
            continue
        path = name[len(ENV_PREFIX):].lower().split("__")
        node, default = settings, schema
        for part in path[:-1]:
            if not isinstance(default.get(part), dict):
                raise ConfigError(f"environment variable {name} names no configuration key")
            node, default = node[part], default[part]
        leaf = path[-1]
        if leaf not in default or isinstance(default[leaf], dict):
            raise ConfigError(f"environment variable {name} names no configuration key")
        node[leaf] = _parse_env_value(raw, default[leaf], name)


def _parse_env_value(raw: str, default: Any, name: str) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, list):
            return [item.strip() for item in raw.split(",") if item.strip()]
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} must be of type {type(default).__name__}") from None
    return raw


def _deep_merge(target: dict[str, Any], overrides: Mapping[str, Any], schema: Mapping[str, Any], source: str, prefix: str = "") -> None:
    for key, value in overrides.items():
        dotted = prefix + key
        if key not in schema:
            raise ConfigError(f"{source}: unknown key {dotted}")
        if isinstance(schema[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: [{dotted}] must be a table")
            _deep_merge(target[key], value, schema[key], source, dotted + ".")
        else:
            target[key] = _coerce(value, schema[key], dotted, source)


# close_at_end: credit up to the activity's end, flagged for review; hold_for_review: credit nothing
# until a captain or organiser confirms.
FORGOTTEN_CHECKOUT_POLICIES = ("close_at_end", "hold_for_review")
FILE_BACKENDS = ("local", "s3")


def _validate_values(settings: Mapping[str, Any]) -> None:
    app = settings["app"]
    try:
        ZoneInfo(app["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"app.timezone {app['timezone']!r} is not a known time zone") from None
    if len(app["secret_key"]) < 16:
        raise ConfigError("app.secret_key must be at least 16 characters")
    try:
        if len(base64.urlsafe_b64decode(app["pii_key"].encode())) != 32:
            raise ValueError
    except (ValueError, binascii.Error):
        raise ConfigError("app.pii_key must be a Fernet key: 32 bytes, url-safe base64 encoded") from None
    if app["token_ttl_seconds"] <= 0:
        raise ConfigError("app.token_ttl_seconds must be positive")
    if not settings["database"]["url"]:
        raise ConfigError("database.url must not be empty")
    wechat = settings["wechat"]
    if wechat["timeout_seconds"] <= 0:
        raise ConfigError("wechat.timeout_seconds must be positive")
    for account in ("official", "miniprogram"):
        key = wechat[account]["encoding_aes_key"]
        if len(key) != 43 or not key.isalnum():
            raise ConfigError(f"wechat.{account}.encoding_aes_key must be 43 letters and digits, as WeChat issues it")
        for field in ("app_id", "app_secret", "token"):
            if not wechat[account][field]:
                raise ConfigError(f"wechat.{account}.{field} must not be empty")
    campaigns = settings["campaigns"]
    if not 1 <= campaigns["draft_days_ahead"] <= 366:
        raise ConfigError("campaigns.draft_days_ahead must be between 1 and 366")
    if campaigns["yearly_target"] < 0:
        raise ConfigError("campaigns.yearly_target must not be negative")
    for key in ("window_days_before", "window_days_after"):
        if not 0 <= campaigns[key] <= 60:
            raise ConfigError(f"campaigns.{key} must be between 0 and 60")
    delivery = settings["delivery"]
    for key in ("subscribe_per_second", "template_per_second", "robot_per_minute", "batch_size", "concurrency",
                "max_attempts", "backoff_seconds", "backoff_max_seconds", "lease_seconds", "fanout_batch_size"):
        if delivery[key] <= 0:
            raise ConfigError(f"delivery.{key} must be positive")
    if delivery["lease_seconds"] <= settings["wechat"]["timeout_seconds"]:
        raise ConfigError("delivery.lease_seconds must be longer than wechat.timeout_seconds")
    activities = settings["activities"]
    if not 1 <= activities["max_duration_days"] <= 366:
        raise ConfigError("activities.max_duration_days must be between 1 and 366")
    if not 1 <= activities["max_days_ahead"] <= 3660:
        raise ConfigError("activities.max_days_ahead must be between 1 and 3660")
    if settings["broadcasts"]["max_body_chars"] <= 0:
        raise ConfigError("broadcasts.max_body_chars must be positive")
    scheduler = settings["scheduler"]
    if not 0 < scheduler["renew_seconds"] < scheduler["lease_seconds"]:
        raise ConfigError("scheduler.renew_seconds must be positive and shorter than scheduler.lease_seconds")
    if scheduler["misfire_grace_seconds"] <= 0:
        raise ConfigError("scheduler.misfire_grace_seconds must be positive")
    reminders = settings["reminders"]
    if not 0 <= reminders["day_before_hour"] <= 23:
        raise ConfigError("reminders.day_before_hour must be an hour of the day, 0-23")
    if not 1 <= reminders["hours_before"] <= 23:
        raise ConfigError("reminders.hours_before must be between 1 and 23")
    if not 1 <= reminders["campaign_invitation_days_before"] <= 30:
        raise ConfigError("reminders.campaign_invitation_days_before must be between 1 and 30")
    console = settings["console"]
    if not 1 <= console["session_idle_minutes"] <= 24 * 60:
        raise ConfigError("console.session_idle_minutes must be between 1 and 1440")
    if not 1 <= console["session_max_hours"] <= 24 * 30:
        raise ConfigError("console.session_max_hours must be between 1 and 720")
    if not 30 <= console["login_ticket_seconds"] <= 600:
        raise ConfigError("console.login_ticket_seconds must be between 30 and 600")
    if not 1 <= console["login_link_minutes"] <= 24 * 60:
        raise ConfigError("console.login_link_minutes must be between 1 and 1440")
    if not console["dist_dir"]:
        raise ConfigError("console.dist_dir must not be empty")
    bulletins = settings["bulletins"]
    for key in ("freeze_day", "quarterly_due_day", "quarterly_reminder_day"):
        if not 1 <= bulletins[key] <= 28:
            raise ConfigError(f"bulletins.{key} must be a day of the month, 1-28")
    if not 0 <= bulletins["freeze_hour"] <= 23:
        raise ConfigError("bulletins.freeze_hour must be an hour of the day, 0-23")
    if bulletins["quarterly_reminder_day"] > bulletins["quarterly_due_day"]:
        raise ConfigError("bulletins.quarterly_reminder_day must not be after bulletins.quarterly_due_day")
    if not 60 <= bulletins["pdf_link_seconds"] <= 7 * 24 * 3600:
        raise ConfigError("bulletins.pdf_link_seconds must be between 60 and 604800")
    _validate_working_days(settings["working_days"])
    certificates = settings["certificates"]
    if not 1 <= certificates["publicity_days"] <= 60:
        raise ConfigError("certificates.publicity_days must be between 1 and 60")
    if not certificates["public_base_url"].startswith(("https://", "http://")):
        raise ConfigError("certificates.public_base_url must be an http(s) URL")
    if certificates["verify_per_minute"] <= 0 or certificates["verify_burst"] <= 0:
        raise ConfigError("certificates.verify_per_minute and certificates.verify_burst must be positive")
    if not 60 <= certificates["pdf_link_seconds"] <= 7 * 24 * 3600:
        raise ConfigError("certificates.pdf_link_seconds must be between 60 and 604800")
    if not 5 <= settings["rewards"]["hold_minutes"] <= 43200:
        raise ConfigError("rewards.hold_minutes must be between 5 and 43200")
    checkin = settings["checkin"]
    if checkin["forgotten_checkout_policy"] not in FORGOTTEN_CHECKOUT_POLICIES:
        raise ConfigError("checkin.forgotten_checkout_policy must be one of " + ", ".join(FORGOTTEN_CHECKOUT_POLICIES))
    for key in ("opens_minutes_before_start", "checkout_grace_minutes", "min_minutes_before_checkout"):
        if checkin[key] < 0:
            raise ConfigError(f"checkin.{key} must not be negative")
    if not 1 <= settings["tasks"]["workers"] <= 64:
        raise ConfigError("tasks.workers must be between 1 and 64")
    if not settings["tasks"]["sqlite_path"]:
        raise ConfigError("tasks.sqlite_path must not be empty")
    for key in ("link_ttl_seconds", "keep_hours", "stale_minutes", "progress_every", "yield_per"):
        if settings["exports"][key] <= 0:
            raise ConfigError(f"exports.{key} must be positive")
    files = settings["files"]
    if not files["directory"]:
        raise ConfigError("files.directory must not be empty")
    if not 1 <= settings["records"]["retroactive_days"] <= 3660:
        raise ConfigError("records.retroactive_days must be between 1 and 3660")
    if not 1 <= settings["records"]["preview_hours"] <= 24 * 30:
        raise ConfigError("records.preview_hours must be between 1 and 720")
    if files["backend"] not in FILE_BACKENDS:
        raise ConfigError("files.backend must be one of " + ", ".join(FILE_BACKENDS))
    if files["backend"] == "s3" and not files["s3"]["bucket"]:
        raise ConfigError("files.s3.bucket must be set when files.backend is \"s3\"")
    if files["s3"]["addressing_style"] not in ("path", "virtual"):
        raise ConfigError("files.s3.addressing_style must be \"path\" or \"virtual\"")
    if files["s3"]["timeout_seconds"] <= 0:
        raise ConfigError("files.s3.timeout_seconds must be positive")
    if not 1024 <= files["upload_max_bytes"] <= 512 * 1024 * 1024:
        raise ConfigError("files.upload_max_bytes must be between 1024 and 536870912")
    if files["uploads_per_minute"] <= 0:
        raise ConfigError("files.uploads_per_minute must be positive")
    if files["unattached_grace_hours"] < 1:
        raise ConfigError("files.unattached_grace_hours must be at least 1")
    if not 10_000 <= files["upload_max_pixels"] <= 200_000_000:
        raise ConfigError("files.upload_max_pixels must be between 10000 and 200000000")


def _validate_working_days(working_days: Mapping[str, Any]) -> None:
    days = {}
    for key in ("holidays", "make_up_days"):
        try:
            days[key] = {date.fromisoformat(item) for item in working_days[key]}
        except ValueError as exc:
            raise ConfigError(f"working_days.{key}: {exc} (write days as YYYY-MM-DD)") from None
    both = sorted(days["holidays"] & days["make_up_days"])
    if both:
        raise ConfigError(f"working_days: {both[0].isoformat()} is both a holiday and a make-up working day")
    weekdays = sorted(day for day in days["make_up_days"] if day.weekday() < 5)
    if weekdays:
        raise ConfigError(f"working_days.make_up_days: {weekdays[0].isoformat()} is a weekday; "
                          "make-up working days are the Saturdays and Sundays worked in exchange for a holiday")


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(value)
    return value


def thaw(value: Any) -> Any:
    """Return a mutable deep copy of frozen settings."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value
