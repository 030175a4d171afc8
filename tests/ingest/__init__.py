"""Ingestion: the event contract, the collector, the browser snippet and the generator."""
