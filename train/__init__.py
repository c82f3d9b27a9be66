"""Model and training (TensorFlow). Installed as `fer_edge.train`; import only from commands that train."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the progress lines
