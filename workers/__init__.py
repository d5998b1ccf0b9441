"""Media workers: the broker, the actors, and the pure processing functions they call."""
