"""Side effects of the call workflows: every one an activity, none in workflow code."""
