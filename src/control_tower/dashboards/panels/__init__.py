"""The panel queries, one module per dashboard family; `dashboards/queries.py` names them."""
