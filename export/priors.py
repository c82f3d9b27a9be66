"""Post-hoc logit adjustment: give back to the output layer the class prior that training's class weights took away.

Stills weighted by 1 / sqrt(class size) teach the softmax class shares that go as sqrt(n_c); adding
0.5 * log(n_c) to each logit puts the training set's own shares back (Menon et al. 2021, "Long-tail learning via
logit adjustment"). It changes the final layer's bias only, so it costs nothing per frame.
"""

from __future__ import annotations

import numpy as np

from fer_edge.errors import UsageError

OUTPUT_LAYER = "probabilities"


def prior_offsets(counts: np.ndarray, tau: float) -> np.ndarray:
    """tau * log(count) per class, centred (a constant added to every logit changes nothing)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or np.any(counts <= 0):
        raise UsageError(f"--prior-shift needs training stills of every output class; counts per class: {counts}")
    logs = np.log(counts)
    return tau * (logs - logs.mean())


def shift_output_bias(model, offsets: np.ndarray) -> None:
    """Adds `offsets` to the bias of the model's softmax layer, in place."""
    layer = model.get_layer(OUTPUT_LAYER)
    kernel, bias = layer.get_weights()
    if bias.shape != offsets.shape:
        raise UsageError(f"the model has {bias.shape[0]} outputs, the prior shift {offsets.shape[0]}")
    layer.set_weights([kernel, (bias + offsets).astype(bias.dtype)])
