"""Translation: language detection and machine translation behind a provider chain."""
