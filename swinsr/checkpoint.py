"""Reading, loading and saving checkpoints — safely, atomically, in the reference layout.

* :func:`load_model` turns any supported checkpoint file (or state dict) into a ready model.
* :func:`save_checkpoint` writes ``.safetensors`` or a reference-layout ``.pth`` that the
  original SwinIR / Swin2SR / Swin code loads with ``strict=True``.
* Files are never unpickled with code execution: ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from .archs.spec import ModelSpec
from .convert import checkpoint_filter_fn
from .detect import detect_canonical, is_derived_buffer
from .errors import CheckpointError

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")
# Preferred first: EMA weights are what BasicSR-trained models are evaluated with.
WRAPPER_KEYS = ("params_ema", "params", "model", "state_dict", "model_state_dict", "net_g", "module")
META_ARCH, META_KWARGS = "swinsr_arch", "swinsr_kwargs"
#: top-level ``.pth`` entry holding the configuration (the reference code reads only ``params``)
META_SPEC = "swinsr_spec"


def read_checkpoint(path: str | os.PathLike) -> tuple[Any, dict[str, str]]:
    """Load a checkpoint file's raw content and its safetensors metadata (``{}`` for pickles).

    Raises :class:`CheckpointError` naming the file for anything that is not a readable,
    code-free checkpoint.
    """
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file")
    if p.is_dir():
        raise CheckpointError(f"{p}: is a directory, expected a checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)})")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: empty file")
    if p.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(p), framework="pt", device="cpu") as f:
                meta = dict(f.metadata() or {})
                return {k: f.get_tensor(k) for k in f.keys()}, meta
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{p}: not a valid safetensors file ({exc})") from None
    try:
        return torch.load(p, map_location="cpu", weights_only=True), {}
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{p}: refused to load: the pickle needs more than tensors and plain containers, and swinsr "
            f"never executes code from a file ({first[:160]}). Re-save it as a plain state dict or .safetensors."
        ) from None
    except Exception as exc:  # torch.load raises many types on garbage input
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{p}: not a readable PyTorch checkpoint ({msg[:200]})") from None


def unwrap_state_dict(obj: Any, *, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Find the state dict inside a checkpoint object.

    Prefers ``params_ema`` over ``params`` (BasicSR), then ``model`` (Microsoft Swin),
    ``state_dict`` (Lightning and others); a flat ``{name: tensor}`` dict is returned as is.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a dict of tensors, found {type(obj).__name__}")
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            return unwrap_state_dict(inner, source=source)
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        keys = ", ".join(map(str, list(obj)[:6])) or "nothing"
        raise CheckpointError(f"{source}: no tensors found (top-level keys: {keys})")
    return tensors


def _spec_from_metadata(meta: Mapping[str, Any]) -> ModelSpec | None:
    """The configuration swinsr stored with the weights (safetensors metadata or a ``.pth`` entry)."""
    if META_ARCH not in meta or META_KWARGS not in meta:
        return None
    kwargs = meta[META_KWARGS]
    if isinstance(kwargs, str):
        kwargs = json.loads(kwargs)
    return ModelSpec(str(meta[META_ARCH]), dict(kwargs), ["configuration read from file metadata"])


def load_state_dict_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str = "checkpoint") -> None:
    """Strictly load learnable weights; derived buffers in the file are ignored (recomputed).

    ``state_dict`` may be in any supported layout (it is converted first).
    """
    _load_canonical(model, checkpoint_filter_fn(state_dict), source=source)


def _load_canonical(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str) -> None:
    names = getattr(model, "DERIVED_BUFFERS", None)
    sd = {k: v for k, v in state_dict.items() if not is_derived_buffer(k, names)}
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k} {list(sd[k].shape)} vs {list(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong)):
            if items:
                parts.append(f"{label}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''} ({len(items)})")
        raise CheckpointError(f"{source}: weights do not fit the detected model; " + "; ".join(parts))
    model.load_state_dict(sd, strict=True)


def apply_overrides(spec: ModelSpec, overrides: Mapping[str, Any], *, source: str) -> ModelSpec:
    """``spec`` with reference constructor arguments replaced by ``overrides`` (validated by name).

    For what shapes cannot tell (``img_range`` of a denoiser trained with a non-7 window,
    ``conv_scale``, ...). An argument the architecture does not take is a CheckpointError
    listing the allowed names.
    """
    if not overrides:
        return spec
    import inspect

    from .archs import ARCH_REGISTRY

    cls = ARCH_REGISTRY.get(spec.type_name)
    params = inspect.signature(cls.__init__).parameters
    allowed = [n for n, p in params.items() if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    unknown = [k for k in overrides if k not in allowed]
    if unknown:
        raise CheckpointError(
            f"{source}: {spec.type_name} takes no argument {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}"
        )
    kwargs = {**spec.kwargs, **overrides}
    notes = [n for n in spec.notes if not any(n.startswith(f"{k} ") for k in overrides)]
    notes += [f"{k} {v!r} given by the caller" for k, v in overrides.items()]
    return ModelSpec(spec.arch, kwargs, notes)


def load_model(
    source: str | os.PathLike | Mapping[str, Any],
    *,
    device: str | torch.device | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build the right model for a checkpoint and load it strictly; returns it in eval mode.

    Args:
        source: a checkpoint path (``.pth``, ``.pt``, ``.ckpt``, ``.safetensors``), a Hugging
            Face ``save_pretrained`` folder (its ``config.json`` gives the exact configuration),
            or an already loaded checkpoint / state dict. Wrappers (``params_ema``, ``params``,
            ``model``, ``state_dict``) are unwrapped, Hugging Face layouts converted.
        device: where to put the model (default CPU).
        **overrides: reference constructor arguments that replace detected values, for what
            shapes cannot tell (e.g. ``img_range=255.``); unknown names are an error.

    The detected :class:`~swinsr.archs.spec.ModelSpec` is attached as ``model.swinsr_spec``.
    """
    if isinstance(source, Mapping):
        name, raw, meta = "state dict", source, {}
    elif Path(source).is_dir() and (Path(source) / "config.json").is_file():
        from .hf import load_hf_model  # a transformers save_pretrained folder: its config is exact

        if overrides:
            raise CheckpointError(f"{source}: a Hugging Face folder's config.json is exact; constructor overrides are not taken")
        return load_hf_model(source, device=device)
    else:
        name = str(source)
        raw, meta = read_checkpoint(source)
        if not meta and isinstance(raw, Mapping) and isinstance(raw.get(META_SPEC), Mapping):
            meta = raw[META_SPEC]  # a .pth written by save_checkpoint
    # the one place a checkpoint becomes the reference layout; everything below reads canonical keys
    sd = checkpoint_filter_fn(unwrap_state_dict(raw, source=name))
    spec = _spec_from_metadata(meta)
    if spec is None:
        try:
            spec = detect_canonical(sd)
        except CheckpointError as exc:
            raise CheckpointError(f"{name}: {exc}") from None
    spec = apply_overrides(spec, overrides, source=name)
    return _build_and_load_canonical(spec, sd, source=name, device=device)


def build_and_load(
    spec: ModelSpec, state_dict: Mapping[str, torch.Tensor], *, source: str, device: str | torch.device | None = None
) -> nn.Module:
    """Build ``spec``'s model, load ``state_dict`` (any layout) strictly, attach ``.swinsr_spec``; eval mode."""
    return _build_and_load_canonical(spec, checkpoint_filter_fn(state_dict), source=source, device=device)


def _build_and_load_canonical(
    spec: ModelSpec, state_dict: Mapping[str, torch.Tensor], *, source: str, device: str | torch.device | None
) -> nn.Module:
    try:
        model = spec.build()
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: cannot build {spec.type_name} with {spec.kwargs}: {exc}") from None
    _load_canonical(model, state_dict, source=source)
    model.swinsr_spec = spec  # type: ignore[attr-defined]
    model.eval()
    return model.to(device) if device is not None else model


def reference_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` plus the derived buffers the reference code keeps in its state dict.

    The model's :meth:`~swinsr.archs.contract.ConfiguredModule.reference_buffers` (e.g.
    ``relative_position_index``, ``relative_coords_table``, ``attn_mask`` sized for the
    model's ``img_size``) are added under their reference names, so the result loads into the
    reference implementation with ``strict=True``.
    """
    sd = dict(model.state_dict())
    extra = getattr(model, "reference_buffers", None)
    if extra is not None:
        device = next((t.device for t in sd.values()), torch.device("cpu"))
        for key, value in extra().items():
            sd[key] = value.to(device)
    return sd


def model_spec(model: nn.Module) -> ModelSpec:
    """The :class:`ModelSpec` of a swinsr model (its family and captured ``config``)."""
    family = getattr(model, "family", "")
    config = getattr(model, "config", None)
    if not family or config is None:
        raise CheckpointError(f"{type(model).__name__} is not a swinsr model with a known configuration")
    return ModelSpec(family, dict(config))


def _process_umask() -> int:
    umask = os.umask(0)  # the only way to read it; set back at once (done once, at import)
    os.umask(umask)
    return umask


#: read once: os.umask changes it process-wide for a moment, which threads could observe
_UMASK = _process_umask()


def _fsync(path: str | Path, directory: bool = False) -> None:
    """Flush a file (or a folder's entries) to the disk where the OS supports it."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    """``write(tmp)`` into a temp file beside ``path``, flushed to disk, then renamed over ``path``.

    A crash, kill or power loss leaves either the old file or the complete new one, never a
    truncated file under the final name (the data is fsynced before the rename, the folder after).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~_UMASK)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync(path.parent, directory=True)


def save_checkpoint(
    model: nn.Module | Mapping[str, torch.Tensor],
    path: str | os.PathLike,
    *,
    ema: nn.Module | Mapping[str, torch.Tensor] | None = None,
    spec: ModelSpec | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file + rename: an interrupted save leaves no half file).

    * ``.safetensors``: the learnable weights (the EMA weights when ``ema`` is given) plus the
      architecture in the file metadata, so :func:`load_model` needs no detection.
    * ``.pth`` / ``.pt``: the reference layout ``{'params': sd}`` (and ``'params_ema'`` when
      ``ema`` is given) including the derived buffers: the reference code loads it strictly. The
      configuration rides along under ``'swinsr_spec'`` (plain containers), which the reference
      loaders ignore and :func:`load_model` prefers to detection.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".safetensors", ".pth", ".pt"):
        raise CheckpointError(f"{p}: unsupported checkpoint suffix {p.suffix!r}; use .safetensors, .pth or .pt")

    def as_sd(m: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if isinstance(m, nn.Module):
            m = getattr(m, "module", m)  # DDP
            return reference_state_dict(m)
        return dict(m)

    if spec is None and isinstance(model, nn.Module):
        spec = model_spec(getattr(model, "module", model))
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        weights = {k: v.detach().cpu().contiguous() for k, v in as_sd(ema if ema is not None else model).items() if not is_derived_buffer(k)}
        meta = {"format": "pt"}
        if spec is not None:
            meta.update({META_ARCH: spec.arch, META_KWARGS: json.dumps(spec.kwargs)})
        _atomic_write(p, lambda tmp: save_file(weights, tmp, metadata=meta))
    else:
        payload: dict[str, Any] = {"params": {k: v.detach().cpu() for k, v in as_sd(model).items()}}
        if ema is not None:
            payload["params_ema"] = {k: v.detach().cpu() for k, v in as_sd(ema).items()}
        if spec is not None:
            # plain containers only, so weights_only loading accepts it; exact where shapes cannot tell
            payload[META_SPEC] = {META_ARCH: spec.arch, META_KWARGS: dict(spec.kwargs)}
        _atomic_write(p, lambda tmp: torch.save(payload, tmp))
    return p
