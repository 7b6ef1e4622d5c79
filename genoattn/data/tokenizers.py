"""DNA tokenizers: one token per nucleotide, or one token per non-overlapping k-mer.

Both are vectorised with numpy lookup tables (no Python loop per base) and share one small API:
``encode(seq) -> ids``, ``encode_nucleotides(nt_ids) -> ids``, ``decode(ids) -> str``,
``reverse_complement(ids)`` and ``vocab_size``. Ids of the special tokens come from
:mod:`genoattn.data.vocab` (PAD 0, CLS 1, SEP 2, MASK 3) and are the same in both tokenizers.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
import torch

from genoattn.data import vocab
from genoattn.errors import ConfigError, InputError

# 256-entry table over ASCII bytes: A/C/G/T (either case) -> their ids, every other byte -> N.
_BYTE_TO_ID = np.full(256, vocab.N, dtype=np.uint8)
for _i, _base in enumerate("ACGT"):
    _BYTE_TO_ID[ord(_base)] = vocab.A + _i
    _BYTE_TO_ID[ord(_base.lower())] = vocab.A + _i

# Complement over nucleotide ids; specials (and N) map to themselves.
_NT_COMPLEMENT = np.arange(vocab.VOCAB_SIZE, dtype=np.uint8)
_NT_COMPLEMENT[[vocab.A, vocab.C, vocab.G, vocab.T]] = [vocab.T, vocab.G, vocab.C, vocab.A]

# Nucleotide id -> base-4 digit for k-mer codes: A/C/G/T -> 0..3, PAD -> 5, anything else -> 4 (N).
_PAD_DIGIT = 5
_NT_TO_DIGIT = np.full(256, 4, dtype=np.uint8)
_NT_TO_DIGIT[[vocab.A, vocab.C, vocab.G, vocab.T]] = [0, 1, 2, 3]
_NT_TO_DIGIT[vocab.PAD] = _PAD_DIGIT

# id -> one output byte for decoding nucleotide ids; specials are written out by name instead.
_ID_TO_BYTE = np.frombuffer(b"????ACGTN", dtype=np.uint8)
_SPECIAL_NAMES = {i: name for name, i in vocab.SPECIAL_TOKENS.items()}

ArrayLike = np.ndarray | torch.Tensor


def encode_nucleotides(seq: str | bytes | bytearray | memoryview) -> np.ndarray:
    """DNA text -> nucleotide ids (uint8 [len(seq)]): ACGT/acgt -> 4..7, any other character -> N (8)."""
    if isinstance(seq, str):
        seq = seq.encode("latin-1", "replace")
    return _BYTE_TO_ID[np.frombuffer(seq, dtype=np.uint8)]


def _apply_table(table: np.ndarray, ids: ArrayLike, what: str) -> ArrayLike:
    """Map ids through ``table`` (numpy or torch in, same kind out), checking the id range."""
    if isinstance(ids, torch.Tensor):
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(table)):
            raise InputError(f"{what}: token ids must lie in [0, {len(table)}), got "
                             f"[{int(ids.min())}, {int(ids.max())}]")
        return torch.as_tensor(table, device=ids.device)[ids.long()].to(ids.dtype)
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= len(table)):
        raise InputError(f"{what}: token ids must lie in [0, {len(table)}), got [{ids.min()}, {ids.max()}]")
    return table[ids].astype(ids.dtype, copy=False)


def _flip_last(ids: ArrayLike) -> ArrayLike:
    return ids.flip(-1) if isinstance(ids, torch.Tensor) else ids[..., ::-1].copy()


class NucleotideTokenizer:
    """One token per nucleotide: vocabulary of :mod:`genoattn.data.vocab` (9 ids; A=4, C=5, G=6, T=7, N=8)."""

    name: Literal["nucleotide"] = "nucleotide"
    k = 1  # nucleotides per token
    vocab_size = vocab.VOCAB_SIZE
    dtype = np.uint8  # smallest dtype that holds every id
    # Ordinary (non-special) tokens that masked-LM random replacement draws from: A, C, G, T.
    random_token_low, random_token_high = vocab.A, vocab.T + 1

    def encode(self, seq: str | bytes) -> np.ndarray:
        """DNA text -> ids, uint8 [len(seq)]; lowercase maps like uppercase, anything else -> N."""
        return encode_nucleotides(seq)

    def encode_nucleotides(self, nt_ids: np.ndarray) -> np.ndarray:
        """Nucleotide ids [..., L] -> token ids [..., L] (the identity here)."""
        return nt_ids

    def decode(self, ids: ArrayLike) -> str:
        """Ids -> text; special tokens are written as their names (e.g. ``[MASK]``)."""
        ids = _as_numpy_1d(ids)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise InputError(f"decode: nucleotide token ids must lie in [0, {self.vocab_size}), "
                             f"got [{ids.min()}, {ids.max()}]")
        if not ids.size or ids.min() >= vocab.A:  # fast path: nucleotides only
            return _ID_TO_BYTE[ids].tobytes().decode("ascii")
        return "".join(_SPECIAL_NAMES.get(int(i), chr(_ID_TO_BYTE[i])) for i in ids)

    @overload
    def reverse_complement(self, ids: np.ndarray) -> np.ndarray: ...
    @overload
    def reverse_complement(self, ids: torch.Tensor) -> torch.Tensor: ...

    def reverse_complement(self, ids: ArrayLike) -> ArrayLike:
        """Reverse complement along the last axis (numpy or torch); specials and N stay themselves."""
        return _flip_last(_apply_table(_NT_COMPLEMENT, ids, "reverse_complement"))


class KmerTokenizer:
    """One token per non-overlapping k-mer.

    Ids: the specials PAD 0, CLS 1, SEP 2, MASK 3; ``KMER_WITH_N`` (4) for every k-mer that
    contains a base other than A/C/G/T; then the 4**k k-mers in lexicographic order (A<C<G<T,
    first base most significant) from id 5. ``vocab_size = 5 + 4**k``. The sequence length must
    be a multiple of k. A k-mer made only of PAD is PAD; one with any other non-ACGT id is
    ``KMER_WITH_N``. Decoding writes ``KMER_WITH_N`` as k times "N".
    """

    name: Literal["kmer"] = "kmer"
    KMER_WITH_N = 4
    FIRST_KMER = 5

    def __init__(self, k: int = 3) -> None:
        if not isinstance(k, int) or not 1 <= k <= 8:
            raise ConfigError(f"k: k-mer size must be an integer in [1, 8], got {k!r}")
        self.k = k
        self.vocab_size = self.FIRST_KMER + 4**k
        self.dtype = np.uint8 if self.vocab_size <= 256 else (np.int16 if self.vocab_size < 2**15 else np.int32)
        self.random_token_low, self.random_token_high = self.FIRST_KMER, self.vocab_size
        self._powers = (4 ** np.arange(k - 1, -1, -1)).astype(np.int64)  # [k]
        codes = np.arange(4**k, dtype=np.int64)
        digits = (codes[:, None] // self._powers[None, :]) % 4  # [4**k, k], base-4 digits
        self._kmer_bytes = np.frombuffer(b"ACGT", dtype=np.uint8)[digits]  # [4**k, k]
        rc_codes = ((3 - digits[:, ::-1]) * self._powers[None, :]).sum(axis=1)  # complement + reverse
        self._rc_table = np.arange(self.vocab_size, dtype=np.int64)
        self._rc_table[self.FIRST_KMER:] = self.FIRST_KMER + rc_codes

    def encode(self, seq: str | bytes) -> np.ndarray:
        """DNA text (length a multiple of k) -> k-mer ids [len(seq) // k]."""
        return self.encode_nucleotides(encode_nucleotides(seq))

    def encode_nucleotides(self, nt_ids: np.ndarray) -> np.ndarray:
        """Nucleotide ids [..., L] (L a multiple of k) -> k-mer ids [..., L // k]."""
        nt_ids = np.asarray(nt_ids)
        length = nt_ids.shape[-1]
        if length % self.k:
            raise InputError(f"k-mer tokenizer: sequence length must be a multiple of k={self.k}, got {length}")
        if nt_ids.dtype != np.uint8:
            if nt_ids.size and (nt_ids.min() < 0 or nt_ids.max() > 255):
                raise InputError(f"k-mer tokenizer: nucleotide ids must lie in [0, 255], got "
                                 f"[{nt_ids.min()}, {nt_ids.max()}]")
            nt_ids = nt_ids.astype(np.uint8)
        digits = _NT_TO_DIGIT[nt_ids].reshape(*nt_ids.shape[:-1], length // self.k, self.k)  # [..., L/k, k]
        codes = digits[..., 0].astype(np.int32)
        for i in range(1, self.k):  # base-4 number, first base most significant (a loop over k, not bases)
            codes = codes * 4 + digits[..., i]
        out = np.where(digits.max(axis=-1) > 3, self.KMER_WITH_N, self.FIRST_KMER + codes)
        out[digits.min(axis=-1) == _PAD_DIGIT] = vocab.PAD  # padding stays padding
        return out.astype(self.dtype)

    def decode(self, ids: ArrayLike) -> str:
        """K-mer ids -> text (k letters per k-mer; special tokens as their names)."""
        ids = _as_numpy_1d(ids).astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise InputError(f"decode: k-mer token ids must lie in [0, {self.vocab_size}), "
                             f"got [{ids.min()}, {ids.max()}]")
        if not ids.size or ids.min() >= self.KMER_WITH_N:  # fast path: k-mers only
            letters = self._kmer_bytes[np.maximum(ids - self.FIRST_KMER, 0)].copy()  # [n, k]
            letters[ids == self.KMER_WITH_N] = ord("N")
            return letters.tobytes().decode("ascii")
        return "".join(_SPECIAL_NAMES[int(i)] if i < self.KMER_WITH_N else self.decode(ids[j:j + 1])
                       for j, i in enumerate(ids))

    @overload
    def reverse_complement(self, ids: np.ndarray) -> np.ndarray: ...
    @overload
    def reverse_complement(self, ids: torch.Tensor) -> torch.Tensor: ...

    def reverse_complement(self, ids: ArrayLike) -> ArrayLike:
        """Reverse complement of a k-mer id sequence along the last axis: token order reversed and each
        k-mer reverse-complemented; specials and the N k-mer stay themselves."""
        return _flip_last(_apply_table(self._rc_table, ids, "reverse_complement"))


Tokenizer = NucleotideTokenizer | KmerTokenizer


def build_tokenizer(name: str = "nucleotide", k: int = 3) -> Tokenizer:
    """Tokenizer by name: ``"nucleotide"`` (k ignored) or ``"kmer"`` (non-overlapping k-mers)."""
    if name == "nucleotide":
        return NucleotideTokenizer()
    if name == "kmer":
        return KmerTokenizer(k)
    raise ConfigError(f"tokenizer: expected 'nucleotide' or 'kmer', got {name!r}")


def _as_numpy_1d(ids: ArrayLike) -> np.ndarray:
    arr = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    if arr.ndim != 1:
        raise InputError(f"decode: expected a 1-D sequence of token ids, got shape {tuple(arr.shape)}")
    return arr
