"""Hand-written GPU kernels (Triton) for pattern families that a generic block-sparse kernel serves poorly."""
