"""Configuration: file or defaults, APP_* environment, overrides, and refusal of bad keys."""

from __future__ import annotations

import tomllib

import pytest

from app.config import EXAMPLE_FILE, ConfigError, builtin_defaults, load_settings


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def example_text() -> str:
    return EXAMPLE_FILE.read_text(encoding="utf-8")


def test_defaults_equal_the_example_file(monkeypatch, tmp_path):
    monkeypatch.delenv("APP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./config.toml here
    settings = load_settings(environ={})
    with EXAMPLE_FILE.open("rb") as handle:
        assert _plain(settings) == tomllib.load(handle)


def test_file_named_by_app_config_is_read(tmp_path):
    path = write(tmp_path, example_text().replace('timezone = "Asia/Shanghai"', 'timezone = "Asia/Urumqi"'))
    settings = load_settings(environ={"APP_CONFIG": str(path)})
    assert settings["app"]["timezone"] == "Asia/Urumqi"


def test_config_toml_in_working_directory_is_read(tmp_path, monkeypatch):
    write(tmp_path, example_text().replace("token_ttl_seconds = 7200", "token_ttl_seconds = 60"))
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={})["app"]["token_ttl_seconds"] == 60


def test_unknown_key_stops_start_up_naming_it(tmp_path):
    path = write(tmp_path, example_text().replace("[redis]\n", "[redis]\nurll = \"x\"\n"))
    with pytest.raises(ConfigError, match="unknown keys: redis.urll"):
        load_settings(environ={"APP_CONFIG": str(path)})


def test_missing_key_stops_start_up_naming_it(tmp_path):
    text = "\n".join(line for line in example_text().splitlines() if not line.startswith("pii_key"))
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="missing keys: app.pii_key"):
        load_settings(environ={"APP_CONFIG": str(path)})


def test_missing_file_named_by_app_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not a readable file"):
        load_settings(environ={"APP_CONFIG": str(tmp_path / "nope.toml")})


def test_wrong_type_is_refused(tmp_path):
    path = write(tmp_path, example_text().replace("token_ttl_seconds = 7200", 'token_ttl_seconds = "soon"'))
    with pytest.raises(ConfigError, match="app.token_ttl_seconds must be of type int"):
        load_settings(environ={"APP_CONFIG": str(path)})


def test_environment_overrides_secrets_with_types():
    settings = load_settings(environ={
        "APP_CONFIG": str(EXAMPLE_FILE),
        "APP_WECHAT__OFFICIAL__APP_SECRET": "from-env",
        "APP_WECHAT__REQUIRE_SAFE_MODE": "true",
        "APP_APP__TOKEN_TTL_SECONDS": "600",
    })
    assert settings["wechat"]["official"]["app_secret"] == "from-env"
    assert settings["wechat"]["require_safe_mode"] is True
    assert settings["app"]["token_ttl_seconds"] == 600


def test_unknown_environment_key_is_refused():
    with pytest.raises(ConfigError, match="APP_WECHAT__NOPE"):
        load_settings(environ={"APP_CONFIG": str(EXAMPLE_FILE), "APP_WECHAT__NOPE": "1"})


def test_overrides_are_deep_merged_and_checked():
    settings = load_settings({"wechat": {"official": {"token": "t2"}}}, environ={"APP_CONFIG": str(EXAMPLE_FILE)})
    assert settings["wechat"]["official"]["token"] == "t2"
    assert settings["wechat"]["official"]["app_id"] == builtin_defaults()["wechat"]["official"]["app_id"]
    with pytest.raises(ConfigError, match="unknown key wechat.offical"):
        load_settings({"wechat": {"offical": {}}}, environ={"APP_CONFIG": str(EXAMPLE_FILE)})


@pytest.mark.parametrize("override, message", [
    ({"app": {"timezone": "Mars/Base"}}, "not a known time zone"),
    ({"app": {"pii_key": "short"}}, "Fernet key"),
    ({"app": {"secret_key": "x"}}, "at least 16"),
    ({"wechat": {"official": {"encoding_aes_key": "tooshort"}}}, "43 letters"),
    ({"wechat": {"timeout_seconds": 0}}, "positive"),
    ({"campaigns": {"draft_days_ahead": 0}}, "between 1 and 366"),
    ({"campaigns": {"yearly_target": -1}}, "must not be negative"),
    ({"campaigns": {"window_days_before": -1}}, "campaigns.window_days_before must be between 0 and 60"),
    ({"campaigns": {"window_days_after": 61}}, "campaigns.window_days_after must be between 0 and 60"),
    ({"delivery": {"batch_size": 0}}, "delivery.batch_size must be positive"),
    ({"delivery": {"subscribe_per_second": -5}}, "delivery.subscribe_per_second must be positive"),
    ({"delivery": {"lease_seconds": 3}}, "longer than wechat.timeout_seconds"),
    ({"broadcasts": {"max_body_chars": 0}}, "positive"),
    ({"activities": {"max_duration_days": 0}}, "activities.max_duration_days must be between 1 and 366"),
    ({"activities": {"max_days_ahead": 0}}, "activities.max_days_ahead must be between 1 and 3660"),
    ({"scheduler": {"renew_seconds": 20}}, "shorter than scheduler.lease_seconds"),
    ({"reminders": {"day_before_hour": 24}}, "0-23"),
    ({"reminders": {"hours_before": 0}}, "between 1 and 23"),
    ({"working_days": {"holidays": ["2027-02-30"]}}, "working_days.holidays.*YYYY-MM-DD"),
    ({"working_days": {"holidays": [20270206]}}, "must be a list of strings"),
    ({"working_days": {"make_up_days": ["2031-01-08"]}}, "2031-01-08 is a weekday"),
    ({"working_days": {"holidays": ["2031-01-12"], "make_up_days": ["2031-01-12"]}}, "both a holiday and a make-up"),
])
def test_invalid_values_are_refused(override, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(override, environ={"APP_CONFIG": str(EXAMPLE_FILE)})


def test_settings_are_read_only():
    settings = load_settings(environ={"APP_CONFIG": str(EXAMPLE_FILE)})
    with pytest.raises(TypeError):
        settings["app"]["timezone"] = "UTC"  # type: ignore[index]


def test_create_app_refuses_bad_overrides():
    from app import create_app

    with pytest.raises(ConfigError):
        create_app({"database": {"uri": "sqlite://"}})


def _plain(value):
    if hasattr(value, "items"):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def test_a_list_comes_from_the_environment_comma_separated():
    settings = load_settings(environ={"APP_CONFIG": str(EXAMPLE_FILE),
                                      "APP_WORKING_DAYS__HOLIDAYS": "2031-01-06, 2031-01-07"})
    assert settings["working_days"]["holidays"] == ("2031-01-06", "2031-01-07")
    assert settings["working_days"]["make_up_days"] == ()
