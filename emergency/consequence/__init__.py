"""Accident consequence models (pure library, no Flask): Gaussian plume and TNT-equivalent VCE."""
