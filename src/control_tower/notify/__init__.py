"""Delivery: the notification outbox and its channels (Slack, email, webhook, PagerDuty, Apprise).

Features queue a `service.Message` with `service.enqueue` in their own transaction; the
delivery worker (`worker.py`, run by `tasks.py`) sends it and records every attempt.
"""
