"""Files → MMKG → query graphs → padded, static-shape batches."""
