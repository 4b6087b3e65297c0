"""The asset groups of the UI's graph: one per stage of training, in the order they run."""

INGEST = "ingest"  # features into the feature store, labels kept
PREPARE = "prepare"  # the point-in-time training frame and the config matrix
TRAIN = "train"  # one candidate per config
SELECT = "select"  # the champion: registered, promoted if it wins
