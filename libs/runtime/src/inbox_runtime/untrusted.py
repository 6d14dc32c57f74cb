"""Reading what customers and providers send: JSON that fails only with InvalidInput and its reason."""

from __future__ import annotations

import json
from typing import Any

from inbox_runtime.errors import InvalidInput


def parse_json(raw: str | bytes) -> Any:
    """The JSON value, or InvalidInput saying why not: not JSON, not UTF-8, nested too deeply for the
    parser, or text that is not valid Unicode (a lone surrogate such as "\\ud800", which no store, protobuf
    or browser can hold)."""
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInput("body is not JSON") from None
    except RecursionError:
        raise InvalidInput("JSON is nested too deeply") from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("JSON holds text that is not valid Unicode") from None
    except RecursionError:
        raise InvalidInput("JSON is nested too deeply") from None
    return value
