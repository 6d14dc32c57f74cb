import asyncio

from inbox_runtime.logging import configure

from inbox_threading.app import run
from inbox_threading.config import Settings

settings = Settings.from_env()
configure("threading", json=settings.common.log_json, level=settings.common.log_level)
asyncio.run(run(settings))
