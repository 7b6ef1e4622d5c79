import numpy as np
import pytest
import torch

from genoattn.data import vocab
from genoattn.data.tokenizers import KmerTokenizer, NucleotideTokenizer, build_tokenizer, encode_nucleotides
from genoattn.errors import ConfigError, InputError

REFERENCE = {"A": vocab.A, "C": vocab.C, "G": vocab.G, "T": vocab.T}
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


def slow_encode(seq: str) -> list[int]:
    """Per-base oracle for the lookup table."""
    return [REFERENCE.get(ch.upper(), vocab.N) for ch in seq]


def slow_rc(seq: str) -> str:
    return "".join(COMPLEMENT[ch] for ch in reversed(seq))


def random_dna(n: int, seed: int = 0, alphabet: str = "ACGTN") -> str:
    rng = np.random.default_rng(seed)
    return "".join(rng.choice(list(alphabet), n))


def test_encode_matches_per_base_oracle_on_every_ascii_byte():
    text = "".join(chr(i) for i in range(1, 128)) + "acgtACGT"
    ids = encode_nucleotides(text)
    assert ids.dtype == np.uint8
    assert ids.tolist() == slow_encode(text)


def test_encode_lowercase_iupac_and_non_ascii():
    assert encode_nucleotides("acgtACGT").tolist() == [4, 5, 6, 7, 4, 5, 6, 7]
    assert encode_nucleotides("RYKMSWnN-").tolist() == [vocab.N] * 9
    assert encode_nucleotides("Aé€T").tolist() == [vocab.A, vocab.N, vocab.N, vocab.T]  # one id per character
    assert encode_nucleotides(b"GATTACA").tolist() == slow_encode("GATTACA")
    assert encode_nucleotides("").shape == (0,)


def test_nucleotide_decode_roundtrip_and_specials():
    tok = NucleotideTokenizer()
    seq = random_dna(1000, seed=1)
    assert tok.decode(tok.encode(seq)) == seq
    assert tok.decode(torch.tensor(tok.encode(seq).astype(np.int64))) == seq
    assert tok.decode([vocab.CLS, vocab.A, vocab.MASK, vocab.T, vocab.SEP, vocab.PAD]) == "[CLS]A[MASK]T[SEP][PAD]"
    with pytest.raises(InputError, match="token ids"):
        tok.decode([0, 9])
    with pytest.raises(InputError, match="1-D"):
        tok.decode(np.zeros((2, 2), dtype=np.int64))


def test_nucleotide_reverse_complement_numpy_and_torch():
    tok = NucleotideTokenizer()
    seq = random_dna(257, seed=2)
    rc = tok.reverse_complement(tok.encode(seq))
    assert tok.decode(rc) == slow_rc(seq)
    # specials stay themselves (and move with the reversal), batches flip along the last axis
    ids = np.array([[vocab.CLS, vocab.A, vocab.C, vocab.N, vocab.SEP],
                    [vocab.G, vocab.T, vocab.MASK, vocab.PAD, vocab.A]])
    expected = np.array([[vocab.SEP, vocab.N, vocab.G, vocab.T, vocab.CLS],
                         [vocab.T, vocab.PAD, vocab.MASK, vocab.A, vocab.C]])
    np.testing.assert_array_equal(tok.reverse_complement(ids), expected)
    t = torch.from_numpy(ids)
    assert torch.equal(tok.reverse_complement(t), torch.from_numpy(expected))
    assert torch.equal(tok.reverse_complement(tok.reverse_complement(t)), t)
    with pytest.raises(InputError):
        tok.reverse_complement(np.array([12]))


def test_kmer_vocab_and_ids():
    tok = KmerTokenizer(3)
    assert tok.vocab_size == 5 + 64
    assert tok.encode("AAAAACTTT").tolist() == [5, 5 + 1, 5 + 63]
    assert tok.encode("AANCGT").tolist() == [tok.KMER_WITH_N, 5 + (1 * 16 + 2 * 4 + 3)]
    assert tok.encode("acg").tolist() == tok.encode("ACG").tolist()
    assert KmerTokenizer(1).vocab_size == 9 and KmerTokenizer(6).vocab_size == 5 + 4096
    assert KmerTokenizer(6).encode("TTTTTT").dtype == np.int16
    with pytest.raises(InputError, match="multiple of k=3"):
        tok.encode("ACGT")
    for bad in (0, 9, 2.5):
        with pytest.raises(ConfigError, match="k"):
            KmerTokenizer(bad)


def test_kmer_matches_oracle_decode_and_reverse_complement():
    for k in (1, 2, 3, 5):
        tok = KmerTokenizer(k)
        seq = random_dna(60 * k, seed=k, alphabet="ACGT")
        ids = tok.encode(seq)
        expected = [5 + int("".join(str("ACGT".index(c)) for c in seq[i:i + k]), 4) for i in range(0, len(seq), k)]
        assert ids.tolist() == expected
        assert tok.decode(ids) == seq
        np.testing.assert_array_equal(tok.reverse_complement(ids), tok.encode(slow_rc(seq)))
        t = torch.from_numpy(ids.astype(np.int64))
        assert torch.equal(tok.reverse_complement(t), torch.from_numpy(tok.encode(slow_rc(seq)).astype(np.int64)))


def test_kmer_specials_padding_and_n():
    tok = KmerTokenizer(2)
    nt = np.array([[vocab.A, vocab.C, vocab.N, vocab.A, vocab.PAD, vocab.PAD]], dtype=np.uint8)
    ids = tok.encode_nucleotides(nt)
    assert ids.tolist() == [[5 + 1, tok.KMER_WITH_N, vocab.PAD]]
    assert tok.decode(ids[0]) == "ACNN[PAD]"
    rc = tok.reverse_complement(ids)
    assert rc.tolist() == [[vocab.PAD, tok.KMER_WITH_N, 5 + (2 * 4 + 3)]]  # AC -> GT


def test_build_tokenizer():
    assert isinstance(build_tokenizer("nucleotide"), NucleotideTokenizer)
    assert build_tokenizer("kmer", 4).vocab_size == 5 + 256
    with pytest.raises(ConfigError, match="tokenizer"):
        build_tokenizer("bpe")
