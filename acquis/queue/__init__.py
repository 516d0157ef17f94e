"""Scaled-mode delivery on a task queue (Celery on RabbitMQ or Redis).

The outbox stays the only record of what is owed; the queue carries wake-ups. A task claims
due messages with the same leases as the in-process worker, so any number of Celery workers
share the work without ever delivering one message twice at the same time, and a broker
outage loses nothing: the beat sweeper finds what is due when the broker is back.
"""
