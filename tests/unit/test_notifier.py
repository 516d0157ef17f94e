"""The web processes' wake-up of Celery workers never makes a request wait on the broker."""

from __future__ import annotations

import threading
import time
from typing import Any

from acquis.queue.celery_app import DRAIN_TASK, Notifier


class _Broker:
    """Stands in for Celery's publishing: each send blocks until the test lets it through."""

    def __init__(self, fail: bool = False) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.sent: list[str] = []
        self.fail = fail

    def send_task(self, name: str, retry: bool = True) -> None:
        assert retry is False  # a wake-up is never retried by Celery: the sweep is the fallback
        self.entered.set()
        self.release.wait(10)
        if self.fail:
            raise ConnectionRefusedError("broker down")
        self.sent.append(name)


def _wait_for(check: Any) -> None:
    deadline = time.monotonic() + 10
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert check()


def test_a_request_returns_while_the_broker_is_still_being_reached() -> None:
    broker = _Broker()
    notifier = Notifier(broker)  # type: ignore[arg-type]
    notifier()  # returns although send_task is blocked
    assert broker.entered.wait(10) and broker.sent == []
    notifier()
    notifier()  # asked for while the first is in flight: merged into one more
    broker.release.set()
    _wait_for(lambda: len(broker.sent) == 2)
    time.sleep(0.2)
    assert broker.sent == [DRAIN_TASK, DRAIN_TASK]


def test_a_broker_failure_is_logged_and_the_next_wake_up_tried(caplog: Any) -> None:
    broker = _Broker(fail=True)
    broker.release.set()
    notifier = Notifier(broker)  # type: ignore[arg-type]
    notifier()
    _wait_for(lambda: "broker unreachable" in caplog.text)
    broker.fail = False
    notifier()
    _wait_for(lambda: broker.sent == [DRAIN_TASK])
