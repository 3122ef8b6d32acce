"""The local console: what `runbook-bot serve` shows when no Slack credentials are set."""
