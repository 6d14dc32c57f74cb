"""A service's entry point keeps a stop asked for while it is still starting."""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import textwrap

from inbox_runtime.lifecycle import tune_garbage_collector

SERVICE = textwrap.dedent(
    """
    import sys
    from types import SimpleNamespace

    from inbox_runtime.lifecycle import serve, until_signalled


    async def run(settings: object) -> None:
        print("starting", flush=True)
        sys.stdin.readline()  # still starting (blocking, as a slow start-up step would) when SIGTERM comes
        await until_signalled()
        print("stopped in order", flush=True)


    common = SimpleNamespace(log_json=True, log_level="WARNING", otlp_endpoint="")
    serve("probe", lambda: SimpleNamespace(common=common), run)
    """
)


def test_a_sigterm_during_start_up_stops_the_service_in_order() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVICE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    assert process.stdout.readline().strip() == "starting"
    process.send_signal(signal.SIGTERM)
    process.stdin.write("\n")
    process.stdin.close()
    assert process.stdout.readline().strip() == "stopped in order"
    assert process.wait(timeout=30) == 0


def test_services_collect_garbage_in_fewer_bigger_passes_around_a_frozen_start() -> None:
    before = gc.get_threshold()
    try:
        tune_garbage_collector()
        assert gc.get_threshold() == (50_000, 50, 100) and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
