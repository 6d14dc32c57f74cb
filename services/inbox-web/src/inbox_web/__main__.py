from inbox_runtime.lifecycle import serve

from inbox_web.app import run
from inbox_web.config import Settings

serve("inbox-web", Settings.from_env, run)
