"""The words the bot posts, as Jinja2 templates. `text.render` escapes every interpolated
value for Slack (&, <, > only), so a note or a param can never become a mention or a link."""

from __future__ import annotations

ROOT = """\
*{{ title }}*
Runbook `{{ runbook }}@{{ number }}` · sha256:`{{ short_hash }}` · run `{{ run_id }}`
Started by <@{{ requester }}> · params: {% for k, v in params.items() %}`{{ k }}={{ v }}`{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}"""

ENTRY = "`#{{ seq }}` `{{ short_hash }}` <@{{ actor }}> {{ what }}"

STEP_HEADER = "*{{ number }}. {{ title }}*{% if text %}\n{{ text }}{% endif %}"

GUARD = (
    ":lock: Needs {{ quorum }} approval(s) from {{ roles | join(', ') }}"
    "{% if not allow_requester %} · not the requester{% endif %}"
    " · approved by {% for a in approvers %}<@{{ a }}>{% if not loop.last %}, {% endif %}{% else %}nobody yet{% endfor %}"
    " · approvals last {{ minutes }} min"
)

DECIDED = "{{ status }} by <@{{ by }}> at {{ when }}{% if note %}: {{ note }}{% endif %}"
