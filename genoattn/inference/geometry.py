"""Window, context and stride of a run, from its options and the model (genoattn.inference.tiling does the tiling)."""

from __future__ import annotations

import logging

from genoattn.inference.model import ModelInfo
from genoattn.inference.options import PredictOptions
from genoattn.inference.tiling import Geometry, check_context, check_window, choose_context, round_down

log = logging.getLogger("genoattn.predict")


def resolve_geometry(info: ModelInfo, options: PredictOptions) -> Geometry:
    """Window, context and stride from the options and the model (logs why when the context is inexact)."""
    align = info.align
    pad_short = info.pad_short if options.pad_short is None else options.pad_short
    window = options.window if options.window is not None else info.window
    if options.window is None and window % align:
        window = max(align, round_down(window, align))
    check_window(window, align)
    if not info.token_level:
        stride = options.stride if options.stride is not None else window
        return Geometry(window, 0, stride, align, pad_short)
    if options.context is None:
        context, warning = choose_context(window, align, info.receptive_field)
        if warning:
            log.warning("note: %s", warning)
    else:
        context = check_context(options.context, window, align)
        if info.receptive_field is not None and context < info.receptive_field:
            log.warning("note: --context %d is below the model's receptive field (%d nt): outputs near tile "
                        "borders can differ from a single pass", context, info.receptive_field)
    return Geometry(window, context, window - 2 * context, align, pad_short)
