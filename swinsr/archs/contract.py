"""The one contract the engine asks of every image-to-image model.

Tiling, the upscaler, export, training, checkpoints and the memory estimate never look inside a
model: they read what :class:`SRModel` declares. A new architecture subclasses it, sets the
attributes in its constructor and overrides what differs from the defaults.

=======================  ===================================================================
``scale``                output size / input size (1 for denoising and JPEG models)
``in_chans``             channels of the input image
``out_chans``            channels of the output image
``size_multiple``        the model pads inputs internally to this multiple (window size);
                         tiles are aligned to it so tiled and whole-image results agree
``has_aux``              ``forward`` returns ``(image, aux)`` instead of ``image``
``config``               the constructor arguments, captured automatically (see below)
``DERIVED_BUFFERS``      state-dict entries computed from the configuration; files may hold
                         them for any size, loading ignores them, :meth:`reference_buffers`
                         writes them back for the reference code
=======================  ===================================================================

``config`` is captured from the outermost constructor call, with every named argument
(defaults applied), so *every* argument that changes weights or outputs survives
``save_checkpoint`` -> ``load_model``. Arguments that cannot be stored (classes such as
``norm_layer``) and ``CONFIG_EXCLUDE`` are left out.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar

import torch
import torch.nn as nn

# Training-only switches that change neither the weights' shapes nor eval outputs.
CONFIG_EXCLUDE = frozenset({"self", "use_checkpoint", "norm_layer", "act_layer"})


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def _plain(value: Any) -> Any:
    """Tuples become lists (what JSON gives back), so a round trip compares equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def captured_config(init: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The named arguments of one ``init(self, *args, **kwargs)`` call, defaults applied."""
    sig = inspect.signature(init)
    bound = sig.bind(None, *args, **kwargs)
    bound.apply_defaults()
    config = {}
    for name, param in sig.parameters.items():
        if name in CONFIG_EXCLUDE or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = bound.arguments.get(name)
        if _jsonable(value):
            config[name] = _plain(value)
    return config


def _capture_config(init: Any) -> Any:
    @functools.wraps(init)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        # the outermost constructor finishes last, so its arguments win
        self.config = captured_config(init, args, kwargs)

    wrapper._captures_config = True  # type: ignore[attr-defined]
    return wrapper


class ConfiguredModule(nn.Module):
    """A module whose constructor arguments are captured into ``self.config`` (see the module doc)."""

    #: family name as in :attr:`swinsr.detect.ModelSpec.arch` (``'swinir'``, ``'hat'``, ...)
    family: ClassVar[str] = ""
    #: last component of state-dict keys that are recomputed, never loaded
    DERIVED_BUFFERS: ClassVar[tuple[str, ...]] = ()
    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_captures_config", False):
            cls.__init__ = _capture_config(init)  # type: ignore[method-assign]

    def reference_buffers(self) -> dict[str, torch.Tensor]:
        """Derived buffers the reference implementation keeps in its state dict, by full key.

        The default collects ``reference_buffers()`` of every submodule that has one (the block
        library's blocks do); override for buffers held elsewhere.
        """
        out: dict[str, torch.Tensor] = {}
        for name, module in self.named_modules():
            if module is self or not hasattr(module, "reference_buffers"):
                continue
            prefix = f"{name}." if name else ""
            for key, value in module.reference_buffers().items():
                out[prefix + key] = value
        return out


class SRModel(ConfiguredModule):
    """Base of every image-to-image model (SR, denoising, JPEG artifact removal).

    Subclasses set ``scale``, ``in_chans``, ``out_chans`` and ``size_multiple`` in ``__init__``
    and keep the reference constructor argument names; ``forward`` takes ``(B, in_chans, H, W)``
    in ``[0, 1]`` of any H, W and returns ``(B, out_chans, H*scale, W*scale)``.
    """

    scale: int = 1
    in_chans: int = 3
    out_chans: int = 3
    size_multiple: int = 1
    has_aux: bool = False

    @property
    def upscale(self) -> int:
        """The reference attribute name of :attr:`scale`."""
        return self.scale

    def estimate_bytes_per_pixel(self) -> float:
        """Peak float32 activation bytes per *input* pixel of one forward, with margin.

        Used to size ``tile='auto'`` where memory cannot be measured (CPU). The default is a
        generic bound from the widest feature map; families override it with a fitted formula.
        """
        widths = [m.out_channels for m in self.modules() if isinstance(m, nn.Conv2d)] or [64]
        return 4.0 * (12 * max(widths) + 2 * self.out_chans * self.scale**2) * 1.25

    def pad_to_multiple(self, x: torch.Tensor) -> torch.Tensor:
        """Reflect-pad H and W (bottom/right) up to :attr:`size_multiple`, as the reference pipelines do.

        Inputs too small to reflect (pad >= size) are replicate-padded instead of failing.
        """
        h, w = x.shape[-2:]
        m = self.size_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        if not (pad_h or pad_w):
            return x
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        return nn.functional.pad(x, (0, pad_w, 0, pad_h), mode)


def model_contract(model: nn.Module) -> SRModel:
    """``model`` (unwrapped from DDP / ``torch.compile``) as an :class:`SRModel`, or a clear error."""
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model
    if not isinstance(inner, SRModel):
        from ..errors import OptionError

        raise OptionError(
            f"{type(inner).__name__} is not a super-resolution/restoration model (no SRModel contract;"
            " for Swin classifiers use `swinsr classify`)"
        )
    return inner
