"""Reads used by the web pages, each with the prefetching that keeps its query count constant."""
