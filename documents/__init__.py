"""Documents Exhibit writes: the continuity bundle (ZIP) and its statement (PDF)."""
