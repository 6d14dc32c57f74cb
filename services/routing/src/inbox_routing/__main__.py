import asyncio

from inbox_runtime.logging import configure

from inbox_routing.app import run
from inbox_routing.config import Settings

settings = Settings.from_env()
configure("routing", json=settings.common.log_json, level=settings.common.log_level)
asyncio.run(run(settings))
