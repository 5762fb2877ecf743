"""The layer registry: one YAML file per layer, the single source of truth for every generator."""

from layers.registry import Field, Layer, Registry, RegistryError, load_registry

__all__ = ["Field", "Layer", "Registry", "RegistryError", "load_registry"]
