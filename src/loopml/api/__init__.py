"""Layer 4: the HTTP interfaces. :mod:`.inference` is the model server's face (it starts
without the management API)."""
