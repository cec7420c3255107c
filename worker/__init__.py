"""The intake worker: queue consumer, sources, background work, the share sweeper; never bot."""
