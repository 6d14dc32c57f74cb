"""Starting the service with a bad setting stops at once with one line naming it."""

from __future__ import annotations

import subprocess
import sys


def test_a_malformed_mongodb_uri_stops_the_service_with_one_line() -> None:
    env = {"MONGODB_URI": "mongodb://mongo:port/inbox"}
    started = subprocess.run(
        [sys.executable, "-m", "inbox_threading"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert started.returncode == 1
    assert started.stderr.strip().splitlines() == [
        "threading: environment variable MONGODB_URI is not a usable MongoDB URI: Port contains non-digit "
        "characters. Hint: username and password must be escaped according to RFC 3986, use urllib.parse.quote_plus"
    ]
