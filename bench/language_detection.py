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

from inbox_translation.detection import ACCURACY_MODES, Detector

MESSAGES = {
    "en": [
        "Where is my order?",
        "I want a refund please",
        "My package never arrived",
        "Can you help me with my account",
        "The app keeps crashing",
        "Thanks, that worked!",
        "I was charged twice this month",
        "How do I change my password?",
        "Is anyone there?",
        "The delivery address is wrong",
        "Please cancel my subscription",
        "It arrived broken",
    ],
    "es": [
        "¿Dónde está mi pedido?",
        "Quiero un reembolso, por favor",
        "Mi paquete nunca llegó",
        "¿Me pueden ayudar con mi cuenta?",
        "La aplicación se cierra sola",
        "Gracias, ya funciona",
        "Me cobraron dos veces este mes",
        "¿Cómo cambio mi contraseña?",
        "¿Hay alguien ahí?",
        "La dirección de entrega está mal",
        "Por favor, cancelen mi suscripción",
        "Llegó roto",
    ],
    "fr": [
        "Où est ma commande ?",
        "Je voudrais un remboursement",
        "Mon colis n'est jamais arrivé",
        "Pouvez-vous m'aider avec mon compte ?",
        "L'application plante sans arrêt",
        "Merci, ça marche !",
        "J'ai été débité deux fois ce mois-ci",
        "Comment changer mon mot de passe ?",
        "Il y a quelqu'un ?",
        "L'adresse de livraison est fausse",
        "Merci d'annuler mon abonnement",
        "Il est arrivé cassé",
    ],
    "de": [
        "Wo ist meine Bestellung?",
        "Ich möchte eine Rückerstattung",
        "Mein Paket ist nie angekommen",
        "Können Sie mir mit meinem Konto helfen?",
        "Die App stürzt ständig ab",
        "Danke, das hat funktioniert!",
        "Mir wurde diesen Monat doppelt abgebucht",
        "Wie ändere ich mein Passwort?",
        "Ist da jemand?",
        "Die Lieferadresse ist falsch",
        "Bitte kündigen Sie mein Abo",
        "Es kam kaputt an",
    ],
    "pt": [
        "Onde está o meu pedido?",
        "Quero um reembolso, por favor",
        "Minha encomenda nunca chegou",
        "Podem me ajudar com a minha conta?",
        "O aplicativo fecha sozinho",
        "Obrigado, funcionou!",
        "Fui cobrado duas vezes este mês",
        "Como mudo a minha senha?",
        "Tem alguém aí?",
        "O endereço de entrega está errado",
        "Por favor, cancelem a minha assinatura",
        "Chegou quebrado",
    ],
    "it": [
        "Dov'è il mio ordine?",
        "Vorrei un rimborso, per favore",
        "Il mio pacco non è mai arrivato",
        "Potete aiutarmi con il mio account?",
        "L'app si chiude da sola",
        "Grazie, ha funzionato!",
        "Mi avete addebitato due volte questo mese",
        "Come cambio la mia password?",
        "C'è qualcuno?",
        "L'indirizzo di consegna è sbagliato",
        "Per favore, annullate il mio abbonamento",
        "È arrivato rotto",
    ],
}
KNOWN = "xx"  # stands for the customer's known language, so a fallback is told apart from a detection


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(accuracy: str) -> dict[str, float]:
    """In this process: the service's default detector in one mode over every message."""
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
    for accuracy in ACCURACY_MODES:
        # The first pass loads the models; the figures are from a second one in the same process.
        run = subprocess.run([sys.executable, __file__, accuracy], capture_output=True, text=True, check=True)
        figures = json.loads(run.stdout)
        print(
            f"  TRANSLATION_DETECTION_ACCURACY={accuracy:<5} right {figures['right']:3.0f}   "
            f"kept the known language {figures['kept']:3.0f}   wrong {figures['wrong']:3.0f}   "
            f"{figures['ms']:5.2f} ms each   process RSS {figures['rss_mb']:4.0f} MB"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        measure(sys.argv[1])
        print(json.dumps(measure(sys.argv[1])))
    else:
        main()
