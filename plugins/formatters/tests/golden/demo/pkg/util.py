"""Helpers."""


def shout(text):
    """Upper-case it."""
    return text.upper()
