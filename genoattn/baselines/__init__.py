"""Baselines that every cross-genome report carries beside the model under test (one module each):
:mod:`~genoattn.baselines.orf` (longest open reading frame, no training) and :mod:`~genoattn.baselines.cnn`
(a small dilated CNN trained like any genoattn network)."""
