from inbox_runtime.lifecycle import serve

from inbox_translation.app import run
from inbox_translation.config import Settings

serve("translation", Settings.from_env, run)
