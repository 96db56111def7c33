"""The CrossGuard policy pack (DESIGN.md section 6).

Not built yet: its rules (pinned-image-tags, pinned-model-revisions, context-cap-required,
...) arrive with the policy-pack issue. Until then `python -m tools check` enforces strict
schema validation and the spec's own rules, and this package holds no rule.
"""
