"""Forms translate posted text into typed values; the services decide what is valid."""
