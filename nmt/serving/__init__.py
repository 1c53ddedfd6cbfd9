"""nmt-serve: the HTTP APIs, the batcher that groups concurrent requests, and the attention explorer page."""
