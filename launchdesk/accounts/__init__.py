"""Customer accounts: CSV import with a column mapping, and the support lookup. No Qt."""
