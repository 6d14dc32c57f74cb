"""Language detection on short customer messages: `make bench`.

The detector as threading and translation run it by default (the six default languages, the suite's
confidence and margin rules) and, for comparison, under looser rules, each in a fresh process so its memory
(RSS) is its own, over 72 short support messages, twelve in each language. A message is "right" when the
detector settles on its language, "kept" when the rules fall back to the customer's known language
(harmless: nothing is translated wrongly), "wrong" when it settles on another language (the agent gets a
wrong translation). Figures only, nothing asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from inbox_language import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN, Detector
from support_messages import MESSAGES

KNOWN = "xx"  # stands for the customer's known language, so a fallback is told apart from a detection
RULES = {
    "default": (DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN),
    "loose": (0.5, 0.2),
}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(rules: str) -> dict[str, float]:
    """In this process: the detector under one set of rules over every message."""
    min_confidence, min_margin = RULES[rules]
    detector = Detector(tuple(MESSAGES), min_confidence, min_margin)
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
    print(f"language detection (fastText lid.176.ftz), {count} short support messages in {len(MESSAGES)} languages:")
    for rules, (min_confidence, min_margin) in RULES.items():
        # The first pass warms the caches; the figures are from a second one in the same process.
        run = subprocess.run([sys.executable, __file__, rules], capture_output=True, text=True, check=True)
        figures = json.loads(run.stdout)
        label = f"{rules} rules ({min_confidence}, {min_margin})"
        print(
            f"  {label:<24} right {figures['right']:3.0f}   "
            f"kept the known language {figures['kept']:3.0f}   wrong {figures['wrong']:3.0f}   "
            f"{figures['ms']:5.2f} ms each   process RSS {figures['rss_mb']:4.0f} MB"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        measure(sys.argv[1])
        print(json.dumps(measure(sys.argv[1])))
    else:
        main()
