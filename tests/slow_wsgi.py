"""The real app (wsgi.py) behind a middleware that holds /slow?SECONDS open, marking each
such request in SLOW_MARKERS when it starts: requests in flight for the shutdown tests."""

import os
import time
import uuid
from pathlib import Path

from wsgi import app as portal


def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        Path(os.environ["SLOW_MARKERS"], uuid.uuid4().hex).touch()
        time.sleep(float(environ.get("QUERY_STRING") or 2))
        environ = {**environ, "PATH_INFO": "/healthz"}  # the access log still says /slow
    return portal(environ, start_response)
