"""Impact analysis of an incident (辅助决策): zones, what lies inside them, and an evacuation proposal."""
