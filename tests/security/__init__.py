"""The standing security suite: each test here failed on the code before issue 10."""
