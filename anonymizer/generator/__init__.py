"""DeepPrivacy-style face generator: conditioning, networks, losses, augmentation, EMA, and the
inference API (:func:`load_generator`, :class:`GeneratorRunner`).

The exports load on first use (PEP 562): :mod:`.outline`, which gan mode's blend mask also
draws with, is imported by the anonymizer without torch (blur, pixelate and mask never need it).
"""

from fdf.lazy import lazy_getattr

_EXPORTS = {name: ".runner" for name in ("GeneratorError", "GeneratorRunner", "export_generator", "load_generator")}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)
