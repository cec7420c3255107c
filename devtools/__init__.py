"""Developer tools: the local stack, sending a file to the Playground, the Teams app package."""
