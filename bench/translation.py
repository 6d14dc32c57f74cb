"""Translations through Apertium's APY, and the cache hit path: `make bench`.

Starts Debian's apertium-apy on a free port, then times uncached translations (each sentence new) and
cached ones (the same sentences again), through the translation service's own Translator and store.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from inbox_devstack.apertium import ApyServer
from inbox_language import Detector
from inbox_runtime.logging import configure
from inbox_translation.actions import Translator
from inbox_translation.providers.apertium import ApertiumProvider
from inbox_translation.store.sqlite import SqliteTranslationStore

SENTENCES = [
    "Hola, mi pedido {n} no ha llegado todavía.",
    "¿Pueden enviarme la factura {n} por correo electrónico?",
    "El producto {n} llegó roto y quiero un reembolso.",
    "Gracias por su ayuda, el pedido {n} ya está en casa.",
]


def report(label: str, samples_ms: list[float]) -> None:
    samples_ms.sort()
    rate = 1000 / statistics.fmean(samples_ms)
    p99 = samples_ms[int(len(samples_ms) * 0.99) - 1]
    print(f"  {label:<40} {rate:9,.0f}/s   p50 {statistics.median(samples_ms):7.2f} ms   p99 {p99:7.2f} ms")


async def main(count: int = 200) -> None:
    with ApyServer() as apy, tempfile.TemporaryDirectory() as folder:
        store = await SqliteTranslationStore.open(Path(folder) / "translation.sqlite3")
        translator = Translator([ApertiumProvider(apy.url)], store, Detector(("en", "es"), 0.5, 0.2))
        await translator.translate("Hola", "es", "en")  # warm the APY pipe
        texts = [SENTENCES[i % len(SENTENCES)].format(n=f"ORD-{1000 + i}") for i in range(count)]
        for label in ("Apertium, es -> en (uncached)", "cache hit (same text, same pair)"):
            samples = []
            for text in texts:
                start = time.perf_counter()
                await translator.translate(text, "es", "en")
                samples.append((time.perf_counter() - start) * 1000)
            report(label, samples)
        await translator.close()
        await store.close()


if __name__ == "__main__":
    configure("bench", json=False, level="WARNING")
    print("translation:")
    asyncio.run(main())
