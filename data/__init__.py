"""Data shipped with OneMap: the synthetic demo city and reference tables."""
