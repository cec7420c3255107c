"""Storage adapters: evidence bytes in regional Blob storage, records in SQL."""
