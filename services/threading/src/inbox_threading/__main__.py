from inbox_runtime.lifecycle import serve

from inbox_threading.app import run
from inbox_threading.config import Settings

serve("threading", Settings.from_env, run)
