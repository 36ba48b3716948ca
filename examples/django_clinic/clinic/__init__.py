"""A small mental-health clinic on Django, adopting Aura: four modules made of five apps."""
