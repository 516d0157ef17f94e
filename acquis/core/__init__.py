"""The core: domain model, hook contract, rules, pipeline and outbox.

It imports nothing from ``acquis.plugins``, ``acquis.lti`` or ``acquis.web`` so that a worker,
a CLI command or a test can use it without a web request (a test enforces this).
"""
