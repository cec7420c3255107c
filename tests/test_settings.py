"""Settings: defaults, every refusal names its variable, secrets stay hidden."""

from __future__ import annotations

import subprocess
import sys

import pytest

from exhibit.settings import Environment, SettingsError, load_settings

TENANT = "6d2c4a10-5b1e-4c8f-9a3e-0e5f1b7c2d41"
APP_ID = "3f1d2c4b-5a69-4788-9b0a-1c2d3e4f5a6b"
BASE = {
    "EXHIBIT_ALLOWED_TENANTS": TENANT,
    "EXHIBIT_REGION_UKSOUTH_CONNECTION_STRING": "UseDevelopmentStorage=true",
}
ANONYMOUS = {**BASE, "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS": "true"}
CREDENTIALS = {
    **BASE,
    "EXHIBIT_BOT_APP_ID": APP_ID,
    "EXHIBIT_BOT_TENANT_ID": TENANT,
    "EXHIBIT_BOT_CLIENT_SECRET": "very-secret-value",
}


def test_local_defaults() -> None:
    settings = load_settings(ANONYMOUS)
    assert settings.environment is Environment.DEVELOPMENT
    assert (settings.host, settings.port) == ("127.0.0.1", 3978)
    assert settings.allow_anonymous
    assert settings.credentials is None
    assert settings.default_region == "uksouth"
    assert settings.database_url.get_secret_value().startswith("sqlite+aiosqlite:///")
    assert settings.directory == "local"


def test_credentials_are_read_and_secrets_never_shown() -> None:
    settings = load_settings(CREDENTIALS)
    assert settings.credentials is not None
    assert settings.credentials.app_id == APP_ID
    assert "very-secret-value" not in repr(settings)
    assert "very-secret-value" not in str(settings.credentials.client_secret)
    assert "UseDevelopmentStorage" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "name"),
    [
        (BASE, "EXHIBIT_BOT_APP_ID"),
        (
            {**CREDENTIALS, "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS": "true"},
            "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS",
        ),
        ({**ANONYMOUS, "EXHIBIT_ENV": "production"}, "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS"),
        (
            {**ANONYMOUS, "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS": "yes please"},
            "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS",
        ),
        ({**ANONYMOUS, "EXHIBIT_ALLOWED_TENANTS": ""}, "EXHIBIT_ALLOWED_TENANTS"),
        ({**ANONYMOUS, "EXHIBIT_ALLOWED_TENANTS": "contoso"}, "EXHIBIT_ALLOWED_TENANTS"),
        ({**ANONYMOUS, "PORT": "http"}, "PORT"),
        ({**ANONYMOUS, "PORT": "70000"}, "PORT"),
        ({**ANONYMOUS, "EXHIBIT_ENV": "staging"}, "EXHIBIT_ENV"),
        (
            {**ANONYMOUS, "EXHIBIT_REGIONS": "uksouth,ukwest"},
            "EXHIBIT_REGION_UKWEST_CONNECTION_STRING",
        ),
        ({**ANONYMOUS, "EXHIBIT_REGIONS": "UK South"}, "EXHIBIT_REGIONS"),
        ({**ANONYMOUS, "EXHIBIT_DEFAULT_REGION": "ukwest"}, "EXHIBIT_DEFAULT_REGION"),
        ({**ANONYMOUS, "EXHIBIT_DIRECTORY": "ldap"}, "EXHIBIT_DIRECTORY"),
        ({**CREDENTIALS, "EXHIBIT_BOT_APP_ID": "exhibit"}, "EXHIBIT_BOT_APP_ID"),
        ({**CREDENTIALS, "EXHIBIT_BOT_TENANT_ID": ""}, "EXHIBIT_BOT_TENANT_ID"),
        ({**CREDENTIALS, "EXHIBIT_BOT_CLIENT_SECRET": ""}, "EXHIBIT_BOT_CLIENT_SECRET"),
        ({**CREDENTIALS, "EXHIBIT_BOT_AUTH_TYPE": "certificate"}, "EXHIBIT_BOT_CERTIFICATE_PATH"),
        ({**ANONYMOUS, "EXHIBIT_MAX_REQUEST_BYTES": "10"}, "EXHIBIT_MAX_REQUEST_BYTES"),
        ({**CREDENTIALS, "EXHIBIT_ENV": "production"}, "EXHIBIT_PUBLIC_URL"),
        ({**ANONYMOUS, "EXHIBIT_PUBLIC_URL": "exhibit.example"}, "EXHIBIT_PUBLIC_URL"),
        ({**ANONYMOUS, "EXHIBIT_SHARE_DEFAULT_DAYS": "60"}, "EXHIBIT_SHARE_DEFAULT_DAYS"),
        ({**ANONYMOUS, "EXHIBIT_QUEUE_NAME": "Bad_Name"}, "EXHIBIT_QUEUE_NAME"),
        ({**ANONYMOUS, "EXHIBIT_CASE_REF_PATTERN": "[unclosed"}, "EXHIBIT_CASE_REF_PATTERN"),
        ({**ANONYMOUS, "EXHIBIT_CASE_REF_PATTERN": "[0-9]{6}"}, "EXHIBIT_CASE_REF_EXAMPLE"),
        ({**ANONYMOUS, "EXHIBIT_FORCE_NAME": "x" * 121}, "EXHIBIT_FORCE_NAME"),
        ({**ANONYMOUS, "EXHIBIT_DIRECTORY": "graph"}, "EXHIBIT_GRAPH_TENANT_ID"),
        ({**ANONYMOUS, "EXHIBIT_SWEEP_BYTES_PER_SECOND": "0"}, "EXHIBIT_SWEEP_BYTES_PER_SECOND"),
        ({**ANONYMOUS, "EXHIBIT_SWEEP_PERIOD_HOURS": "0"}, "EXHIBIT_SWEEP_PERIOD_HOURS"),
        (
            {**ANONYMOUS, "EXHIBIT_SECURITY_CHANNEL_ID": "19:security@thread.tacv2"},
            "EXHIBIT_SECURITY_CHANNEL_SERVICE_URL",
        ),
        (
            {
                **ANONYMOUS,
                "EXHIBIT_SECURITY_CHANNEL_ID": "security",
                "EXHIBIT_SECURITY_CHANNEL_SERVICE_URL": "https://smba.trafficmanager.net/uk/",
            },
            "EXHIBIT_SECURITY_CHANNEL_ID",
        ),
        (
            {
                **CREDENTIALS,
                "EXHIBIT_ENV": "production",
                "EXHIBIT_PUBLIC_URL": "https://exhibit.example",
                "EXHIBIT_CHECKPOINT_KEY_VAULT_KEY": "https://kv-x.vault.azure.net/keys/checkpoints",
                "EXHIBIT_SECURITY_CHANNEL_ID": "19:security@thread.tacv2",
                "EXHIBIT_SECURITY_CHANNEL_SERVICE_URL": "http://smba.trafficmanager.net/uk/",
            },
            "EXHIBIT_SECURITY_CHANNEL_SERVICE_URL",
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    assert raised.value.name == name


def test_start_up_refuses_bad_settings_with_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exhibit", "--env-file", "/nonexistent"],
        env={**BASE, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "EXHIBIT_BOT_APP_ID" in result.stderr


def test_help_explains() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exhibit", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "/api/messages" in result.stdout
    assert "PORT" in result.stdout


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_flags_are_strict(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**ANONYMOUS, "EXHIBIT_RUN_WORKER": value})
    assert raised.value.name == "EXHIBIT_RUN_WORKER"


def test_every_secret_is_hidden_in_reprs() -> None:
    settings = load_settings(
        {
            **CREDENTIALS,
            "EXHIBIT_DATABASE_URL": "postgresql+asyncpg://exhibit:db-password@db/exhibit",
            "EXHIBIT_QUEUE_CONNECTION_STRING": "AccountKey=queue-key",
        }
    )
    shown = repr(settings) + repr(settings.credentials) + str(settings.regions)
    for secret in ("very-secret-value", "db-password", "queue-key", "UseDevelopmentStorage"):
        assert secret not in shown


def test_storage_can_be_reached_without_any_account_key() -> None:
    keyless = {
        key: value for key, value in ANONYMOUS.items() if not key.endswith("_CONNECTION_STRING")
    }
    keyless |= {
        "EXHIBIT_REGIONS": "uksouth",
        "EXHIBIT_REGION_UKSOUTH_ACCOUNT_URL": "https://stexhuksouth.blob.core.windows.net/",
        "EXHIBIT_QUEUE_ACCOUNT_URL": "https://stexhuksouth.queue.core.windows.net/",
    }
    settings = load_settings(keyless)
    assert settings.queue_connection_string is None
    assert settings.queue_account_url == "https://stexhuksouth.queue.core.windows.net/"
    with pytest.raises(SettingsError) as raised:
        load_settings({**keyless, "EXHIBIT_QUEUE_ACCOUNT_URL": "ftp://queue"})
    assert raised.value.name == "EXHIBIT_QUEUE_ACCOUNT_URL"
    without_queue = {k: v for k, v in keyless.items() if k != "EXHIBIT_QUEUE_ACCOUNT_URL"}
    with pytest.raises(SettingsError) as raised:
        load_settings(without_queue)
    assert raised.value.name == "EXHIBIT_QUEUE_CONNECTION_STRING"
