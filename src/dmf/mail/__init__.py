"""Where mail lives: the model, the Storage protocol, one package per backend."""
