import asyncio

from inbox_runtime.logging import configure

from inbox_web.app import run
from inbox_web.config import Settings

settings = Settings.from_env()
configure("inbox-web", json=settings.common.log_json, level=settings.common.log_level)
asyncio.run(run(settings))
