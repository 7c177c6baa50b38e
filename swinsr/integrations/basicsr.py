"""Make swinsr's architectures available to BasicSR pipelines.

    from swinsr.integrations.basicsr import register
    register()          # then `network_g: {type: SwinIR, ...}` resolves to swinsr's SwinIR in BasicSR

swinsr never needs BasicSR; this is only for users who run BasicSR's own ``train.py`` (on a
machine where ``basicsr`` imports — its PyPI release needs an old torchvision).
"""

from __future__ import annotations

from ..archs import ARCH_REGISTRY
from ..errors import SwinSRError

from ..archs import families

#: every registered family's architecture (SwinIR, Swin2SR, HAT, DRCT, DAT, the Swin classifiers)
SWINSR_ARCHS = tuple(f.type_name for f in families())


class BasicSRUnavailable(SwinSRError):
    """``basicsr`` is not installed or does not import here."""


def basicsr_unavailable_reason() -> str | None:
    """``None`` when ``basicsr.utils.registry`` imports, else why not (one line)."""
    try:
        import basicsr.utils.registry  # noqa: F401
    except Exception as exc:  # ImportError, or the torchvision API errors of old basicsr releases
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"basicsr does not import here ({type(exc).__name__}: {first[:200]})"
    return None


def register(*, overwrite: bool = False, prefix: str = "") -> list[str]:
    """Add swinsr's architectures (:data:`SWINSR_ARCHS`) to BasicSR's ``ARCH_REGISTRY``.

    Args:
        overwrite: replace BasicSR's own entries of the same name (BasicSR ships a ``SwinIR``);
            without it, those names are registered as ``prefix + name`` with ``prefix='Swinsr'``
            when ``prefix`` is empty, e.g. ``SwinsrSwinIR``.
        prefix: registered names are ``prefix + name``.

    Returns the names registered. Raises :class:`BasicSRUnavailable` saying why when
    ``basicsr`` cannot be imported.
    """
    reason = basicsr_unavailable_reason()
    if reason is not None:
        raise BasicSRUnavailable(f"cannot register swinsr architectures with BasicSR: {reason}")
    from basicsr.utils.registry import ARCH_REGISTRY as BASICSR_ARCHS

    registered = []
    for name in SWINSR_ARCHS:
        cls = ARCH_REGISTRY.get(name)
        key = prefix + name
        existing = BASICSR_ARCHS._obj_map.get(key) if hasattr(BASICSR_ARCHS, "_obj_map") else None
        if existing is cls:
            registered.append(key)
            continue
        if existing is not None:
            if overwrite:
                BASICSR_ARCHS._obj_map[key] = cls
                registered.append(key)
                continue
            key = (prefix or "Swinsr") + name
            if BASICSR_ARCHS._obj_map.get(key) is cls:
                registered.append(key)
                continue
        BASICSR_ARCHS._do_register(key, cls)
        registered.append(key)
    return registered
