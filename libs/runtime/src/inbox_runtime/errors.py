"""Errors the domain layers raise; the gRPC bootstrap maps each to one status code."""

from __future__ import annotations


class InvalidInput(ValueError):
    """The caller's input breaks a rule; nothing was changed. -> INVALID_ARGUMENT / HTTP 400"""


class NotFound(LookupError):
    """-> NOT_FOUND / HTTP 404"""


class FailedPrecondition(Exception):
    """The request is valid but the state does not allow it (opted out, not configured). -> FAILED_PRECONDITION"""


class PermissionDenied(Exception):
    """The caller is known but may not do this (another agent's conversation, acting as someone else).
    -> PERMISSION_DENIED / HTTP 403"""


class Unavailable(Exception):
    """Something the request needs answers nobody right now; asking again later may work. -> UNAVAILABLE"""
