"""Rules for text users type (titles, descriptions, tags): one place, so every entry point agrees."""

from __future__ import annotations

# Right-to-left overrides and isolates make "x \u202egpj.exe" display as "x exe.jpg".
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_controls(text: str, allowed: str = "") -> bool:
    """Control characters (bar ``allowed``) and bidi overrides, which break lists or spoof what is shown."""
    return any((ord(ch) < 32 or ord(ch) == 127 or ch in BIDI_CONTROLS) and ch not in allowed for ch in text)


def is_utf8(text: str) -> bool:
    """False for strings holding lone surrogates (argv and JSON can carry them; SQLite cannot store them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
