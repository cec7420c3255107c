"""Exhibit's domain: cases, exhibits, officers, policy and custody. Imports no SDK."""
