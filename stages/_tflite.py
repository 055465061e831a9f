"""The TFLite interpreter a stage runs .tflite files with: ai-edge-litert's (builtin ops only, as on
a device) where the env has it, else TensorFlow's own."""


def interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    return Interpreter
