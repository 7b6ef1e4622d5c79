"""Single-nucleotide vocabulary shared by tokenizers, datasets and models (ids are fixed forever)."""

PAD, CLS, SEP, MASK = 0, 1, 2, 3
A, C, G, T, N = 4, 5, 6, 7, 8
VOCAB_SIZE = 9
SPECIAL_TOKENS = {"[PAD]": PAD, "[CLS]": CLS, "[SEP]": SEP, "[MASK]": MASK}
NUCLEOTIDES = "ACGTN"
# Label value ignored by losses and metrics (matches torch.nn.CrossEntropyLoss's default).
IGNORE_INDEX = -100
