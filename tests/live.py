"""A real HTTP server on a loopback port, for tests that must go over HTTP.

werkzeug's threaded server is used rather than waitress because it shuts down cleanly from
another thread; `test_serve.py` and `test_readme.py` cover waitress through `acquis serve`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import make_server


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # shutdown() waits for the serving loop's next poll: 0.5 s by default, paid by every test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join(5)
