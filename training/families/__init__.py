"""One file per model family (nanoGPT style: a dataclass config with a comment per
field, shape comments, the step the exported graph runs): recurrent, transformer, RNN-NADE,
LSTM-VAE, GRU seq2seq, and the small melody models. The token families' configs live in
`token_configs.py`, which imports no torch: `antiphon train` reads its defaults there.

May import the engine, torch and training.data; never fit/, evaluation/ or the daemon.
"""
