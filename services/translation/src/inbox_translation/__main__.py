import asyncio

from inbox_runtime.logging import configure

from inbox_translation.app import run
from inbox_translation.config import Settings

settings = Settings.from_env()
configure("translation", json=settings.common.log_json, level=settings.common.log_level)
asyncio.run(run(settings))
