"""NLP: spaCy through RunInference -> entities and quotes with their speakers."""
