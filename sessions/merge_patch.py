"""JSON Merge Patch (RFC 7396): the one meaning of PATCH in this project.

What a patch names replaces what is there, objects merge member by member,
``null`` removes a member (a field with a default falls back to it), and
arrays are replaced whole.  The result is validated by the caller as the
complete document, so a patch is either applied entirely or refused.
Hand-written: it is the RFC's ten-line algorithm (section 2), and the PyPI
packages that implement it are unmaintained.
"""

from __future__ import annotations

from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` with ``patch`` applied, as RFC 7396 section 2 defines it; neither argument is changed."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
