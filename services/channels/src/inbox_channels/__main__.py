from inbox_runtime.lifecycle import serve

from inbox_channels.app import run
from inbox_channels.config import Settings

serve("channels", Settings.from_env, run)
