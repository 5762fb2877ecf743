"""Emergency resources: teams, depots, shelters, experts; stock and imports."""
