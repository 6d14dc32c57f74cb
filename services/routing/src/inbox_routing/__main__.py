from inbox_runtime.lifecycle import serve

from inbox_routing.app import run
from inbox_routing.config import Settings

serve("routing", Settings.from_env, run)
