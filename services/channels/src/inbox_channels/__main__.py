import asyncio

from inbox_runtime.logging import configure

from inbox_channels.app import run
from inbox_channels.config import Settings

settings = Settings.from_env()
configure("channels", json=settings.common.log_json, level=settings.common.log_level)
asyncio.run(run(settings))
