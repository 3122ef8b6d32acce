"""runbook-bot: pinned incident runbooks for Slack, with a hash-chained ledger."""
