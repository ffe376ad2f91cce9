"""The ML side of the example pipelines: local training that the demo runs for real."""
