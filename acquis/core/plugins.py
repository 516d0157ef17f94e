"""The plugin host: finds adapters by entry point and calls only those an establishment enabled."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from acquis.core import hookspecs
from acquis.core.errors import ConfigurationError, NotFound
from acquis.core.events import AdapterSpec


class PluginHost:
    """Wraps a pluggy PluginManager with per-establishment subsets.

    pluggy's ``subset_hook_caller`` builds a hook caller that skips the given plugins; we cache
    one per (hook, enabled set) because establishments share a handful of distinct sets.
    """

    def __init__(self, load_entry_points: bool = True, plugins: Iterable[tuple[str, Any]] = ()) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        if load_entry_points:
            self.pm.load_setuptools_entrypoints(hookspecs.ENTRY_POINT_GROUP)
        for name, plugin in plugins:
            self.pm.register(plugin, name=name)
        self._callers: dict[tuple[str, frozenset[str]], Any] = {}
        self.specs: dict[str, AdapterSpec] = {}
        self._refresh_specs()

    def register(self, plugin: Any, name: str) -> None:
        self.pm.register(plugin, name=name)
        self._callers.clear()
        self._refresh_specs()

    def _refresh_specs(self) -> None:
        specs: dict[str, AdapterSpec] = {}
        for name, plugin in self.pm.list_name_plugin():
            impl = getattr(plugin, "adapter_spec", None)
            if impl is None:
                raise ConfigurationError(f"plugin {name!r} does not implement adapter_spec")
            spec: AdapterSpec = impl()
            if spec.name != name:
                raise ConfigurationError(
                    f"plugin registered as {name!r} declares itself as {spec.name!r}; "
                    "the entry-point name and the adapter_spec name must match"
                )
            specs[name] = spec
        self.specs = specs

    @property
    def names(self) -> list[str]:
        return sorted(self.specs)

    def spec(self, name: str) -> AdapterSpec:
        try:
            return self.specs[name]
        except KeyError:
            known = ", ".join(self.names) or "none"
            raise NotFound(f"no adapter named {name!r} (installed: {known})") from None

    def implementers(self, hook: str) -> frozenset[str]:
        """Names of the plugins that implement ``hook``."""
        caller = getattr(self.pm.hook, hook)
        names = {self.pm.get_name(impl.plugin) for impl in caller.get_hookimpls()}
        return frozenset(n for n in names if n is not None)

    def caller(self, hook: str, enabled: Iterable[str]) -> Any:
        """A hook caller that reaches only the ``enabled`` plugins."""
        key = (hook, frozenset(enabled))
        cached = self._callers.get(key)
        if cached is None:
            skip = [p for n, p in self.pm.list_name_plugin() if n not in key[1]]
            cached = self.pm.subset_hook_caller(hook, remove_plugins=skip)
            self._callers[key] = cached
        return cached

    def blueprints(self) -> list[Any]:
        found: list[Any] = []
        for group in self.pm.hook.web_blueprints():
            found.extend(group)
        return found
