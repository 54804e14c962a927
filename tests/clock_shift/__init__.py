"""Run the suite with every process's clock moved to the eve of a future UK DST change."""
