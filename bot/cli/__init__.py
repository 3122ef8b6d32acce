"""The `runbook-bot` command line."""
