"""Statistics: the KPI catalogue, its computation over the raw tables, the rollup and its reads."""
