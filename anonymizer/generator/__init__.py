"""DeepPrivacy-style face generator: conditioning, networks, losses, augmentation, EMA, and the
inference API (:func:`load_generator`, :class:`GeneratorRunner`)."""

from .runner import GeneratorError, GeneratorRunner, export_generator, load_generator

__all__ = ["GeneratorError", "GeneratorRunner", "export_generator", "load_generator"]
