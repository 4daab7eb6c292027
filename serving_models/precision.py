"""The arithmetic an embedder graph runs in, chosen at export (scripts/export_models.py
--precision): the TensorFlow dtype of each name."""
import tensorflow as tf

DTYPES = {"float32": tf.float32, "bfloat16": tf.bfloat16}
