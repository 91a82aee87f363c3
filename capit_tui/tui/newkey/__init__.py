"""The new-key flow: the form, the review of every file's diff, and the result."""
