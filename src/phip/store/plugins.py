"""The domains' hooks into the store, loaded without the store importing any domain.

A domain that follows the store's writes (`outbox.subscribe`) or adds to what its reads return
(`add_read_hook`) declares a module as an entry point of the group `phip.domains`
(pyproject.toml); `load()` imports each once, and that import registers its hooks. Datasette's
plugin hooks are the model: the core calls the hooks, the domains provide them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from sqlalchemy.orm import Session

GROUP = "phip.domains"
_loaded = False

#: (session, the caller-scoped repository, resources of one type being returned) -> None, in place
ReadHook = Callable[[Session, Any, list[dict[str, Any]]], None]
_READ_HOOKS: dict[str, list[ReadHook]] = {}


def load() -> None:
    """Import every domain module declared under `phip.domains` (once per process)."""
    global _loaded
    if _loaded:
        return
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        importlib.import_module(ep.value)
    _loaded = True


def add_read_hook(rtype: str, hook: ReadHook) -> None:
    """Let a domain add to resources of `rtype` as they are returned (e.g. the person index's
    `Patient.link` entries)."""
    hooks = _READ_HOOKS.setdefault(rtype, [])
    if hook not in hooks:
        hooks.append(hook)


def on_read(session: Session, repo: Any, resources: list[dict[str, Any]]) -> None:
    """Apply the read hooks to resources being returned (grouped by type; in place)."""
    load()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for res in resources:
        if res.get("resourceType") in _READ_HOOKS:
            by_type.setdefault(res["resourceType"], []).append(res)
    for rtype, group in by_type.items():
        for hook in _READ_HOOKS[rtype]:
            hook(session, repo, group)
