"""Settings, read once from the environment (and `.env`) and passed down; nothing global."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SLACK_API_URL = "https://slack.com/api/"


class Synchronous(StrEnum):
    """SQLite's `synchronous` pragma. FULL: an acknowledged decision survives a power cut."""

    FULL = "FULL"
    EXTRA = "EXTRA"
    NORMAL = "NORMAL"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = SLACK_API_URL
    runbook_db_url: str = Field(default="sqlite:///runbook-bot.db")
    runbooks_dir: Path = Path("runbooks")
    runbook_sqlite_synchronous: Synchronous = Synchronous.FULL
    runbook_ledger_signing_key: SecretStr | None = Field(
        default=None, description="Base64 Ed25519 private key; checkpoints are signed with it."
    )

    @property
    def has_slack_credentials(self) -> bool:
        return self.slack_bot_token is not None and self.slack_signing_secret is not None
