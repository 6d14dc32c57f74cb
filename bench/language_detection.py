"""Language detection on short customer messages, lingua's two accuracy modes side by side: `make bench`.

Each mode runs in a fresh process, so its memory (RSS) is its own: the detector of the translation service
as configured by default (six languages, its confidence and margin rules), then 72 short support messages,
twelve in each language. A message is "right" when the detector settles on its language, "kept" when the
rules fall back to the customer's known language (harmless: nothing is translated wrongly), "wrong" when it
settles on another language (the agent gets a wrong translation). Figures only, nothing asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from inbox_language import ACCURACY_MODES, Detector
from inbox_threading.actions import GUESS_MIN_CONFIDENCE, GUESS_MIN_MARGIN
from support_messages import MESSAGES

KNOWN = "xx"  # stands for the customer's known language, so a fallback is told apart from a detection


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(accuracy: str) -> dict[str, float]:
    """In this process: the service's default detector in one mode over every message ("guess": threading's
    first guess, low accuracy under its stricter rules)."""
    if accuracy == "guess":
        detector = Detector(tuple(MESSAGES), GUESS_MIN_CONFIDENCE, GUESS_MIN_MARGIN, accuracy="low")
    else:
        detector = Detector(tuple(MESSAGES), min_confidence=0.5, min_margin=0.2, accuracy=accuracy)
    right = kept = wrong = 0
    started = time.perf_counter()
    for language, texts in MESSAGES.items():
        for text in texts:
            found = detector.detect(text, KNOWN).language
            right += found == language
            kept += found == KNOWN
            wrong += found not in (language, KNOWN)
    elapsed_ms = (time.perf_counter() - started) * 1000
    count = right + kept + wrong
    return {"right": right, "kept": kept, "wrong": wrong, "ms": elapsed_ms / count, "rss_mb": rss_mb()}


def main() -> None:
    count = sum(len(texts) for texts in MESSAGES.values())
    print(f"language detection, {count} short support messages in {len(MESSAGES)} languages:")
    for accuracy in (*ACCURACY_MODES, "guess"):
        # The first pass loads the models; the figures are from a second one in the same process.
        run = subprocess.run([sys.executable, __file__, accuracy], capture_output=True, text=True, check=True)
        figures = json.loads(run.stdout)
        label = "threading's first guess" if accuracy == "guess" else f"TRANSLATION_DETECTION_ACCURACY={accuracy}"
        print(
            f"  {label:<37} right {figures['right']:3.0f}   "
            f"kept the known language {figures['kept']:3.0f}   wrong {figures['wrong']:3.0f}   "
            f"{figures['ms']:5.2f} ms each   process RSS {figures['rss_mb']:4.0f} MB"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        measure(sys.argv[1])
        print(json.dumps(measure(sys.argv[1])))
    else:
        main()
