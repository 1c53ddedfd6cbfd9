"""Fixed special token ids, shared by the tokenizer, batching, models and decoding.

Every SentencePiece model the project trains reserves these ids, so a checkpoint's
ids mean the same thing whatever corpus it was trained on.
"""

PAD_ID = 0  # padding; never predicted, ignored by the loss
UNK_ID = 1  # unknown piece
BOS_ID = 2  # beginning of sentence: first decoder input
EOS_ID = 3  # end of sentence: last decoder target

PAD_PIECE = "<pad>"
UNK_PIECE = "<unk>"
BOS_PIECE = "<s>"
EOS_PIECE = "</s>"
