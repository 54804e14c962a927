"""Small building blocks that import no feature: errors, clock, ids, pagination, signing."""
