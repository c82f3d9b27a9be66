"""`fer-edge bench`: accuracy and latency of every artifact of one or more bundles, side by side.

Runs without TensorFlow (on the device itself); the Keras row is added where TensorFlow is installed.
"""
