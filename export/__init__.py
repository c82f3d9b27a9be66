"""Converters from a trained run to a deployment bundle (TensorFlow). Installed as `fer_edge.export`."""
