"""Domain types and plain helpers shared by workflows, activities, the bridge and the CLI."""
