"""Hugging Face transformers state-dict layouts, converted to the reference layout.

Supported: ``Swin2SRForImageSuperResolution`` / ``Swin2SRModel``, ``SwinForImageClassification``
/ ``SwinModel`` and ``Swinv2ForImageClassification`` / ``Swinv2Model``, in both the names that
transformers 5 uses in memory (Swin V1 ``attention.q_proj`` ..., ``mlp.fc1``) and the legacy names
of files on the Hub and of ``save_pretrained`` output (``attention.self.query`` ...,
``intermediate.dense``). The mapping is declarative (:data:`SR_RULES`, :data:`CLASSIFIER_RULES`,
:data:`BLOCK_RULES`: regex -> template); separate ``query``/``key``/``value`` projections are
fused into the reference ``qkv`` (V1: one fused bias; V2: ``q_bias``/``v_bias``, HF has no key
bias either). As in the reference, HF keeps patch merging at the *end* of stage ``i``
(``layers.i.downsample``), so no stage re-indexing is needed.

Two entry points:

* :func:`convert_hf_state_dict` (used by :func:`swinsr.convert.checkpoint_filter_fn`, so
  ``swinsr.load_model(hf_model.state_dict())`` and ``swinsr.detect`` just work);
* :func:`load_hf_model` / :func:`spec_from_hf_config`, which also read the HF *config*.

**What a state dict alone cannot tell.** transformers 5 keeps ``relative_position_index`` and
``relative_coords_table`` as non-persistent buffers, so its state dicts carry no window size for
V2 models (Swin2SR, Swin V2), no ``pretrained_window_sizes``, no ``img_size`` and no
``img_range``. When a state dict has those buffers (older files) they are kept under their
reference names, and :func:`swinsr.detect` reads the window and the pretrained window sizes
from them. Without them ``detect`` falls back to its conventions: window 8, ``img_size`` 64 (SR)
/ 224 (V1) / 256 (V2), ``img_range`` 1 (255 if the window is 7), pretrained windows 0. These are
the HF defaults for Swin2SR and the released ``caidas/swin2SR-*`` and ``microsoft/swinv2-*-window8-*``
models, but not for e.g. ``swinv2-*-window16-256`` or ``window12to16``: load those with
:func:`load_hf_model` (a model object or a ``save_pretrained`` folder), which takes every value
from the config.

**Where transformers computes something different from the reference** (swinsr follows the
reference; outputs agree to float64 round-off only where both compute the same thing):

* Swin2SR only accepts inputs whose sides are window multiples (it reflect-pads, then un-embeds
  with the unpadded size and fails); the reference pads and crops any size.
* Swin2SR ``pixelshuffle_aux`` resizes the raw, unpadded input for the bicubic branch; the
  reference resizes the padded input *after* mean subtraction and ``img_range`` scaling. They
  agree only with a zero mean and ``img_range`` 1.
* Swin2SR without upsampler (``upscale`` 1) adds its residual to the raw input; the reference
  adds it to the normalised input. They agree only with a zero mean (e.g. grayscale) and
  ``img_range`` 1.
* Swin2SR builds ``conv_after_body`` as one convolution even for ``resi_connection='3conv'``;
  such a model has no reference equivalent and is refused.
* Swin2SR and Swin V2 allocate ``position_embeddings`` with one token more than there are
  patches (transformers itself cannot add them); such state dicts are refused.
* Swin2SR and Swin V2 add the shifted-window mask twice (-200 instead of -100) and clamp the
  logit scale at ``log(100)`` in double precision (the reference: float32). Both only matter for
  logit scales near the clamp.
* Swin V1 re-derives window and shift from each *input* size; the reference (and swinsr) from the
  configured ``img_size``. They agree when no stage map is at most one window (or at ``img_size``).
* Pooling and classifier heads are the same (mean over tokens, then a linear layer).

A bare ``Swin2SRModel`` converts (and :func:`swinsr.detect` reads its body) but has no
reconstruction head, so it cannot be loaded as a complete model; a bare ``SwinModel`` /
``Swinv2Model`` loads as a classifier with ``num_classes=0`` (``forward`` returns pooled features).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from .archs.spec import ModelSpec
from .errors import CheckpointError

_HF_ROOTS = {"swin2sr.": "swin2sr", "swinv2.": "swinv2", "swin.": "swin"}
# Keys only the bare HF models (no task head, so no root prefix) have.
_BARE_SR_KEY = "first_convolution.weight"
_BARE_CLASSIFIER_KEY = "embeddings.patch_embeddings.projection.weight"

Template = str | Callable[[re.Match[str]], str] | None
DROPPED = ""  # what a rule with template None converts a key to: derived, not kept


@dataclass(frozen=True)
class Rule:
    """``pattern`` (a full match) becomes ``template`` (``re`` expansion, or a function of the
    match; ``None`` drops the key); with ``sub`` the named group ``rest`` is converted by those
    rules and appended."""

    pattern: re.Pattern[str]
    template: Template
    sub: tuple["Rule", ...] = ()

    def apply(self, key: str) -> str | None:
        m = self.pattern.fullmatch(key)
        if m is None:
            return None
        if self.template is None:
            return DROPPED
        head = self.template(m) if callable(self.template) else m.expand(self.template)
        if not self.sub:
            return head
        tail = _convert_key(self.sub, m["rest"])
        return None if tail is None else head + tail


def _rules(*pairs: tuple) -> tuple[Rule, ...]:
    return tuple(Rule(re.compile(p[0]), *p[1:]) for p in pairs)


def _convert_key(rules: tuple[Rule, ...], key: str) -> str | None:
    for rule in rules:
        out = rule.apply(key)
        if out is not None:
            return out
    return None


_QKV_ROLE = {"q": "query", "k": "key", "v": "value"}
_WB = r"(weight|bias)"

#: One Swin block, relative to ``...blocks.{j}.`` (V1, V2 and Swin2SR share these names).
#: ``attn.query`` / ``attn.key`` / ``attn.value`` are staging names, fused by :func:`_fuse_qkv`.
BLOCK_RULES = _rules(
    (rf"layernorm_before\.{_WB}", r"norm1.\1"),
    (rf"layernorm_after\.{_WB}", r"norm2.\1"),
    (r"attention\.(?:self|relative_position_bias)\.relative_position_bias_table", "attn.relative_position_bias_table"),
    (r"attention\.(?:self|relative_position_bias)\.relative_position_index", "attn.relative_position_index"),
    (r"attention\.self\.relative_coords_table", "attn.relative_coords_table"),
    (r"attention\.self\.logit_scale", "attn.logit_scale"),
    (rf"attention\.self\.continuous_position_bias_mlp\.([02])\.{_WB}", r"attn.cpb_mlp.\1.\2"),
    (rf"attention\.(?:output\.dense|o_proj)\.{_WB}", r"attn.proj.\1"),
    (rf"attention\.self\.(query|key|value)\.{_WB}", r"attn.\1.\2"),
    (rf"attention\.([qkv])_proj\.{_WB}", lambda m: f"attn.{_QKV_ROLE[m[1]]}.{m[2]}"),
    (rf"(?:intermediate\.dense|mlp\.fc1)\.{_WB}", r"mlp.fc1.\1"),
    (rf"(?:output\.dense|mlp\.fc2)\.{_WB}", r"mlp.fc2.\1"),
)

#: Swin2SR body (after the ``swin2sr.`` root) and its reconstruction heads (top level in HF).
SR_RULES = _rules(
    (rf"first_convolution\.{_WB}", r"conv_first.\1"),
    (rf"embeddings\.patch_embeddings\.projection\.{_WB}", r"patch_embed.proj.\1"),
    (rf"embeddings\.patch_embeddings\.layernorm\.{_WB}", r"patch_embed.norm.\1"),
    (r"embeddings\.position_embeddings", "absolute_pos_embed"),
    (r"encoder\.stages\.(\d+)\.layers\.(\d+)\.(?P<rest>.+)", r"layers.\1.residual_group.blocks.\2.", BLOCK_RULES),
    (rf"encoder\.stages\.(\d+)\.conv\.((?:\d\.)?{_WB})", r"layers.\1.conv.\2"),
    (rf"encoder\.stages\.(\d+)\.patch_embed\.projection\.{_WB}", r"layers.\1.patch_embed.proj.\2"),
    (rf"layernorm\.{_WB}", r"norm.\1"),
    (rf"conv_after_body\.{_WB}", r"conv_after_body.\1"),
    # heads: HF wraps every upsampler in one `upsample` module; the reference spreads it out
    (rf"upsample\.conv_before_upsample\.{_WB}", r"conv_before_upsample.0.\1"),
    # HF Upsample names its x2 steps convolution_0, convolution_1 ...; the reference Sequential
    # interleaves them with PixelShuffle, hence index 2i
    (rf"upsample\.upsample\.convolution_(\d+)\.{_WB}", lambda m: f"upsample.{2 * int(m[1])}.{m[2]}"),
    (rf"upsample\.upsample\.convolution\.{_WB}", r"upsample.0.\1"),  # x3
    (rf"upsample\.conv\.{_WB}", r"upsample.0.\1"),  # pixelshuffledirect
    (rf"upsample\.(conv_bicubic|conv_aux|conv_up1|conv_up2|conv_hr)\.{_WB}", r"\1.\2"),
    (rf"upsample\.conv_after_aux\.0\.{_WB}", r"conv_after_aux.0.\1"),
    (rf"(?:upsample\.)?final_convolution\.{_WB}", r"conv_last.\1"),
    (r"mean", None),  # HF's input mean buffer: swinsr derives it from the channel count
)

#: Swin V1 / V2 classifiers (after the ``swin.`` / ``swinv2.`` root).
CLASSIFIER_RULES = _rules(
    (rf"embeddings\.patch_embeddings\.projection\.{_WB}", r"patch_embed.proj.\1"),
    (rf"embeddings\.norm\.{_WB}", r"patch_embed.norm.\1"),
    (r"embeddings\.position_embeddings", "absolute_pos_embed"),
    (r"encoder\.layers\.(\d+)\.blocks\.(\d+)\.(?P<rest>.+)", r"layers.\1.blocks.\2.", BLOCK_RULES),
    (r"encoder\.layers\.(\d+)\.downsample\.(reduction\.weight|norm\.weight|norm\.bias)", r"layers.\1.downsample.\2"),
    (rf"layernorm\.{_WB}", r"norm.\1"),
    (rf"classifier\.{_WB}", r"head.\1"),
)


def hf_family(sd: Mapping[str, Any]) -> str | None:
    """``'swin2sr'``, ``'swin'`` or ``'swinv2'`` for a transformers state dict, else ``None``."""
    for key in sd:
        for root, family in _HF_ROOTS.items():
            if key.startswith(root):
                return family
    if _BARE_SR_KEY in sd:
        return "swin2sr"
    if _BARE_CLASSIFIER_KEY in sd:
        return "swinv2" if any(k.endswith("attention.self.logit_scale") for k in sd) else "swin"
    return None


def is_hf_state_dict(sd: Mapping[str, Any]) -> bool:
    """True when the keys are in a transformers layout (with or without a task head)."""
    return hf_family(sd) is not None


def _strip_root(key: str) -> str:
    for root in _HF_ROOTS:
        if key.startswith(root):
            return key[len(root) :]
    return key


def _fuse_qkv(out: dict[str, torch.Tensor], staged: dict[str, dict[str, torch.Tensor]]) -> None:
    """Fuse staged ``attn.{query,key,value}.{weight,bias}`` per block into the reference names."""
    for prefix, parts in staged.items():
        missing = [f"{r}.weight" for r in ("query", "key", "value") if f"{r}.weight" not in parts]
        if missing:
            raise CheckpointError(f"Hugging Face attention at {prefix!r} lacks {', '.join(missing)}")
        out[prefix + "qkv.weight"] = torch.cat([parts[f"{r}.weight"] for r in ("query", "key", "value")])
        biases = {r: parts.get(f"{r}.bias") for r in ("query", "key", "value")}
        if prefix + "logit_scale" in out:  # V2: the reference learns q and v biases, k has none
            if biases["key"] is not None:
                raise CheckpointError(f"{prefix}: a V2 key bias has no place in the reference layout")
            if (biases["query"] is None) != (biases["value"] is None):
                raise CheckpointError(f"{prefix}: V2 attention needs both or neither query/value biases")
            if biases["query"] is not None:
                out[prefix + "q_bias"], out[prefix + "v_bias"] = biases["query"], biases["value"]
        elif any(b is not None for b in biases.values()):
            if any(b is None for b in biases.values()):
                raise CheckpointError(f"{prefix}: V1 attention needs all or none of the query/key/value biases")
            out[prefix + "qkv.bias"] = torch.cat([biases["query"], biases["key"], biases["value"]])


def _check_converted(out: dict[str, torch.Tensor], family: str) -> None:
    pos = out.get("absolute_pos_embed")
    if pos is not None and math.isqrt(pos.shape[1]) ** 2 != pos.shape[1]:
        raise CheckpointError(
            f"Hugging Face {family} position_embeddings has {pos.shape[1]} tokens, one more than a square "
            "patch grid: transformers allocates an extra token it cannot add to the patches, so this model "
            "has no reference equivalent"
        )
    if family == "swin2sr" and "layers.0.conv.0.weight" in out and "conv_after_body.weight" in out:
        raise CheckpointError(
            "Hugging Face Swin2SR with resi_connection='3conv' builds conv_after_body as a single convolution "
            "(the reference uses three), so it has no reference equivalent"
        )


def convert_hf_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return a transformers Swin2SR / Swin / Swin V2 state dict in the reference layout.

    Derived buffers are kept under their reference names when present (they tell
    :func:`swinsr.detect` the window and V2 pretrained window sizes); a flattened V1
    ``relative_position_index`` is reshaped to the reference ``(N, N)``. Raises
    :class:`CheckpointError` for keys with no reference equivalent (e.g. masked-image-modeling
    decoders) and for HF-only variants listed in the module docstring.
    """
    family = hf_family(sd)
    if family is None:
        raise CheckpointError("not a Hugging Face Swin2SR / Swin / Swinv2 state dict")
    rules = SR_RULES if family == "swin2sr" else CLASSIFIER_RULES
    out: dict[str, torch.Tensor] = {}
    staged: dict[str, dict[str, torch.Tensor]] = {}
    unknown = []
    for key, value in sd.items():
        new = _convert_key(rules, _strip_root(key))
        if new is None:
            unknown.append(key)
            continue
        if new == DROPPED:
            continue
        m = re.fullmatch(r"(.*\battn\.)(query|key|value)\.(weight|bias)", new)
        if m:
            staged.setdefault(m[1], {})[f"{m[2]}.{m[3]}"] = value
            continue
        if new.endswith("relative_position_index") and value.dim() == 1:
            n = math.isqrt(value.numel())
            value = value.view(n, n)
        out[new] = value
    if unknown:
        more = f" ... ({len(unknown)} keys)" if len(unknown) > 3 else ""
        raise CheckpointError(
            f"Hugging Face {family} keys with no reference equivalent: {', '.join(unknown[:3])}{more}"
        )
    _fuse_qkv(out, staged)
    _check_converted(out, family)
    return out


# --------------------------------------------------------------------------- configs


def _side(v: Any, name: str) -> int:
    if isinstance(v, (list, tuple)):
        if len(set(v)) != 1:
            raise CheckpointError(f"Hugging Face config {name}={list(v)}: only square sizes are supported")
        v = v[0]
    return int(v)


def _require(cfg: Mapping[str, Any], name: str, expected: Any) -> None:
    value = cfg.get(name, expected)
    if value != expected:
        raise CheckpointError(
            f"Hugging Face config {name}={value!r}: the reference architecture only has {name}={expected!r}"
        )


def _config_dict(config: Any) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    if hasattr(config, "to_dict"):
        return config.to_dict()
    raise CheckpointError(f"expected a transformers config or its dict, got {type(config).__name__}")


def spec_from_hf_config(config: Any, state_dict: Mapping[str, torch.Tensor] | None = None) -> ModelSpec:
    """The :class:`~swinsr.detect.ModelSpec` of a transformers model, read from its config.

    Args:
        config: a ``Swin2SRConfig`` / ``SwinConfig`` / ``Swinv2Config`` or its ``config.json`` dict.
        state_dict: the model's weights (HF or reference layout), used only for the classifier
            width: a bare ``SwinModel`` has no head whatever ``num_labels`` says.

    Unlike :func:`swinsr.detect` this knows ``window_size``, ``img_size``, ``img_range`` and
    ``pretrained_window_sizes`` exactly. Options the reference architecture lacks (another
    activation, LayerNorm eps, ``num_channels_out``) raise :class:`CheckpointError`.
    """
    cfg = _config_dict(config)
    model_type = cfg.get("model_type")
    _require(cfg, "hidden_act", "gelu")
    _require(cfg, "layer_norm_eps", 1e-5)
    common: dict[str, Any] = dict(
        in_chans=int(cfg.get("num_channels", 3)),
        img_size=_side(cfg.get("image_size", 224), "image_size"),
        window_size=int(cfg.get("window_size", 7)),
        depths=list(cfg["depths"]),
        embed_dim=int(cfg["embed_dim"]),
        num_heads=list(cfg["num_heads"]),
        mlp_ratio=_tidy(cfg.get("mlp_ratio", 4.0)),
    )
    extra: dict[str, Any] = {}
    if cfg.get("use_absolute_embeddings"):
        extra["ape"] = True
    if not cfg.get("qkv_bias", True):
        extra["qkv_bias"] = False
    if model_type == "swin2sr":
        _require(cfg, "patch_size", 1)
        _require(cfg, "num_channels_out", common["in_chans"])
        upsampler = cfg.get("upsampler") or ""
        kwargs = dict(
            upscale=int(cfg.get("upscale", 2)) if upsampler else 1,
            img_range=float(cfg.get("img_range", 1.0)),
            upsampler=upsampler,
            resi_connection=cfg.get("resi_connection", "1conv"),
            **common,
        )
        order = ("upscale", "in_chans", "img_size", "window_size", "img_range", "depths", "embed_dim",
                 "num_heads", "mlp_ratio", "upsampler", "resi_connection")
        return ModelSpec("swin2sr", {k: kwargs[k] for k in order} | extra, ["configuration read from a Hugging Face config"])
    if model_type in ("swin", "swinv2"):
        if state_dict is not None:
            head = next((v for k, v in state_dict.items() if k in ("classifier.weight", "head.weight")), None)
            num_classes = int(head.shape[0]) if head is not None else 0
        else:
            num_classes = int(cfg.get("num_labels", len(cfg.get("id2label") or {}) or 0))
        kwargs = dict(
            img_size=common["img_size"], patch_size=_side(cfg.get("patch_size", 4), "patch_size"),
            in_chans=common["in_chans"], num_classes=num_classes, embed_dim=common["embed_dim"],
            depths=common["depths"], num_heads=common["num_heads"], window_size=common["window_size"],
            mlp_ratio=common["mlp_ratio"],
        )
        kwargs |= extra
        if model_type == "swinv2":
            stages = len(kwargs["depths"])
            # HF's default is (0, 0, 0, 0) whatever the stage count; it reads the first `stages`
            pws = list(cfg.get("pretrained_window_sizes") or [0] * stages)
            if len(pws) < stages:
                raise CheckpointError(f"Hugging Face config pretrained_window_sizes={pws} has fewer than {stages} entries")
            kwargs["pretrained_window_sizes"] = [int(p) for p in pws[:stages]]
        return ModelSpec(model_type, kwargs, ["configuration read from a Hugging Face config"])
    raise CheckpointError(f"Hugging Face model_type {model_type!r} is not swin2sr, swin or swinv2")


def _tidy(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


_HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _read_hf_folder(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from .checkpoint import read_checkpoint, unwrap_state_dict

    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{folder}: no config.json (expected a transformers save_pretrained folder)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{config_path}: not a readable JSON config ({exc})") from None
    for name in _HF_WEIGHT_FILES:
        if (folder / name).is_file():
            raw, _ = read_checkpoint(folder / name)
            return config, unwrap_state_dict(raw, source=str(folder / name))
    raise CheckpointError(f"{folder}: no {' or '.join(_HF_WEIGHT_FILES)} (sharded checkpoints are not supported)")


def load_hf_model(source: Any, *, device: str | torch.device | None = None) -> nn.Module:
    """Load a transformers Swin2SR / Swin / Swin V2 model into the matching swinsr model.

    Args:
        source: a transformers model object (``Swin2SRForImageSuperResolution``,
            ``SwinForImageClassification``, ``Swinv2Model`` ...) or a folder written by its
            ``save_pretrained`` (``config.json`` + ``model.safetensors`` / ``pytorch_model.bin``).
        device: where to put the model (default CPU).

    The configuration comes from the HF config (see :func:`spec_from_hf_config`), so this is
    exact where :func:`swinsr.load_model` on the bare state dict has to guess. Returns the model
    in eval mode with ``.swinsr_spec`` attached.
    """
    from .checkpoint import build_and_load

    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if not folder.is_dir():
            raise CheckpointError(f"{folder}: not a folder (expected a transformers save_pretrained folder)")
        config, raw = _read_hf_folder(folder)
        name = str(folder)
    elif hasattr(source, "config") and hasattr(source, "state_dict"):
        config, raw, name = source.config, source.state_dict(), type(source).__name__
    else:
        raise CheckpointError(f"expected a transformers model or a save_pretrained folder, got {type(source).__name__}")
    if not is_hf_state_dict(raw):
        raise CheckpointError(f"{name}: weights are not in a Hugging Face Swin2SR / Swin / Swinv2 layout")
    sd = convert_hf_state_dict(raw)
    spec = spec_from_hf_config(config, sd)
    return build_and_load(spec, sd, source=name, device=device)
